"""More real-looking replies for tests/unit/test_email_replies.py, by language and step:
(text, expected reading). What a careful person would read; unsure is UNCLEAR."""

from __future__ import annotations

from domain.email_replies import Reading, Step

C, R, U = Reading.CANCEL_ACCEPTED, Reading.CANCEL_REFUSED, Reading.UNCLEAR
RA, RR, T = Reading.RETURN_ACCEPTED, Reading.RETURN_REFUSED, Reading.TRACKING
SC, SR, CR = Step.SUPPLIER_CANCELLATION, Step.SUPPLIER_RETURN, Step.CUSTOMER_RETURN

FRENCH: list[tuple[Step, str, Reading]] = [
    (SC, "Bonjour Madame,\nVotre demande est prise en compte, la commande a été annulée.\nBien à vous", C),
    (SC, "Bonsoir, commande #1004 annulée de notre côté. Bonne soirée", U),  # terse, no verb: for the operator
    (SC, "Nous l'avons bloquée avant l'envoi, rien ne partira.", C),
    (SC, "Bonjour, nous avons bien annulé la commande, le remboursement suit.", C),
    (SC, "L'annulation est confirmée.", C),
    (SC, "Bonjour, c'est annulé, désolé pour le contretemps.", C),
    (SC, "Nous avons stoppé la préparation, la commande est bien annulée.", C),
    (SC, "La commande n'a pas encore été expédiée, nous l'annulons.", C),
    (SC, "Bonjour,\nla commande a été expédiée hier, elle est déjà partie.", R),
    (SC, "Désolé, le colis est déjà parti ce matin avec Colissimo.", R),
    (SC, "Trop tard malheureusement : les articles sont déjà produits.", R),
    (SC, "Nous ne pouvons pas annuler, la fabrication est terminée et le colis est en route.", R),
    (SC, "L'annulation n'est plus possible, la commande est déjà livrée au transporteur.", R),
    (SC, "Impossible d'annuler, c'est une pièce sur mesure déjà en fabrication.", R),
    (SC, "La commande est déjà expédiée, voici le suivi : 6A12345678901.", R),
    (SC, "Pouvez-vous confirmer la référence exacte ?", U),
    (SC, "Je transmets à l'atelier et je reviens vers vous demain.", U),
    (SC, "Bien reçu, merci.", U),
    (SC, "Je suis en congés, je traiterai votre demande à mon retour.", U),
    (SC, "Nous avons annulé une partie, le reste est déjà expédié.", U),
    (SR, "Bonjour,\nAdresse de retour :\nAtelier Lyon - Retours\n5 quai Rambaud\n69002 Lyon\nMerci", RA),
    (SR, "Vous pouvez renvoyer le colis à : Entrepôt Nord, 14 rue de l'Industrie, 59000 Lille", RA),
    (SR, "Adresse : Atelier Lyon, 12 rue des Tanneurs, 69007 Lyon. N° de retour : R-7781", RA),
    (SR, "Désolé, nous n'acceptons pas les retours sur les articles personnalisés.", RR),
    (SR, "Le retour est refusé : le délai est dépassé.", RR),
    (SR, "Pas de retour possible pour cet article, mais nous proposons un geste.", RR),
    (SR, "Je vous envoie l'adresse dès que possible.", U),
    (SR, "Merci, nous regardons.", U),
    (CR, "Bonjour, le colis est parti, numéro de suivi 6A12345678901. Cordialement", T),
    (CR, "Voici le numéro Colissimo : 8R12345678901", T),
    (CR, "Déposé en point relais Mondial Relay, numéro 87654321", T),
    (CR, "J'ai envoyé le colis en Chronopost, suivi XY123456789FR", T),
    (CR, "Je n'ai pas encore envoyé le colis, je le fais demain.", U),
    (CR, "Quelle est l'adresse de retour déjà ?", U),
    (CR, "Merci pour votre retour rapide.", U),
]

ENGLISH: list[tuple[Step, str, Reading]] = [
    (SC, "Hi there,\nNo problem, the order has been cancelled.\nBest", C),
    (SC, "We have stopped the order before dispatch.", C),
    (SC, "Cancellation complete, you will not be charged.", C),
    (SC, "The order was successfully cancelled on our side.", C),
    (SC, "We intercepted it before it left the warehouse.", C),
    (SC, "Hello, we cancelled it this morning.", C),
    (SC, "Good news, it was blocked before shipment.", C),
    (SC, "It has not been shipped yet so we will cancel it.", C),
    (SC, "Sorry, it was dispatched yesterday.", R),
    (SC, "Unfortunately the parcel has already been handed over to the courier.", R),
    (SC, "We can't cancel, the item is already being manufactured.", R),
    (SC, "It can no longer be cancelled as it has been shipped.", R),
    (SC, "Too late, it's already on its way: 1Z999AA10123456784", R),
    (SC, "The order was delivered to the carrier this morning.", R),
    (SC, "Already shipped, sorry about that.", R),
    (SC, "Could you send us the order reference?", U),
    (SC, "Let me check with the team.", U),
    (SC, "Thank you for reaching out.", U),
    (SC, "We cancelled part of it, the rest has already shipped.", U),
    (SC, "We will cancel it if it has not shipped yet.", U),
    (SR, "Hi,\nReturn address:\nNorthwind Returns\n200 Harbor Way\nSeattle, WA 98101\nUSA", RA),
    (SR, "Please ship it back to: Unit 4, Riverside Park, Manchester M15 4AB, UK. RMA: 55120", RA),
    (SR, "Address: Returns Dept, 1 Main Street, 10115 Berlin, Germany\nRA number: RA-8891", RA),
    (SR, "We do not accept returns on clearance items.", RR),
    (SR, "Sorry, returns are not accepted after 30 days.", RR),
    (SR, "We refuse the return, the item was used.", RR),
    (SR, "I will send the return label shortly.", U),
    (SR, "Which item is it?", U),
    (CR, "Hi, I've shipped it back, tracking number RR123456789FR", T),
    (CR, "Sent via UPS: 1Z999AA10123456784", T),
    (CR, "Dropped it at the post office today, tracking 6A12345678901.", T),
    (CR, "Here is the DHL waybill 1234567890", T),
    (CR, "I haven't sent it yet, will do tomorrow.", U),
    (CR, "Where should I send it?", U),
    (CR, "Thanks!", U),
]

SUPPLIER_ENGLISH: list[tuple[Step, str, Reading]] = [  # the English of Chinese suppliers
    (SC, "Dear customer, ok we cancel the order, refund will be processed.", C),
    (SC, "Hello friend, the order has been canceled already.", C),
    (SC, "Dear, cancellation is successful, thank you.", C),
    (SC, "Hi dear, order is cancelled, no ship.", C),
    (SC, "Dear, we agree to cancel this order.", C),
    (SC, "Dear friend, sorry, goods already send, can not cancel now.", R),
    (SC, "Sorry dear, your order is already shipped out, tracking YT1234567890123456.", R),
    (SC, "Hello, this order is in production, can not cancel, sorry.", R),
    (SC, "Dear, product already produced, no cancel.", R),
    (SC, "Sorry friend, item already delivered to logistics, cannot stop.", R),
    (SC, "Dear, please give us order number, we check.", U),
    (SC, "Ok dear, wait.", U),
    (SC, "Hello, we check with factory tomorrow and reply you.", U),
    (SR, "Dear friend, please return to:\nRoom 1203, Block B, Longhua Road\nShenzhen 518000 China\nRMA: SZ-2231", RA),
    (SR, "Return address: No. 88 Jiangnan Road, Yiwu, Zhejiang 322000, China", RA),
    (SR, "Sorry dear, we not accept return, can refund 5 USD.", RR),
    (SR, "Dear, no return, it is custom product.", RR),
    (SR, "Dear, please wait, we ask warehouse for address.", U),
    (SC, "Dear, the order is already out of warehouse.", U),  # "out of warehouse": unsure, for the operator
    (SC, "Hello dear, we have cancelled for you, please check.", C),
]

FRENCH += [
    (SC, "Bonjour,\n\nBonne nouvelle : nous avons pu annuler la commande à temps.\n\nL'équipe Atelier", C),
    (SC, "Commande bien annulée, vous ne serez pas débité.", U),  # no subject verb form we trust
    (SC, "Nous avons annulé la commande ce jour.", C),
    (SC, "La commande a été annulée avant la mise en production.", C),
    (SC, "Malheureusement le colis a déjà été envoyé vendredi.", R),
    (SC, "Elle est déjà partie de l'entrepôt, désolé.", R),
    (SC, "Nous ne pouvons pas annuler cette commande, elle est en cours de fabrication.", R),
    (SR, "Merci de renvoyer l'article à : SAV Lumière, 3 avenue Jean Jaurès, 69007 Lyon", RA),
    (SR, "Nous n'acceptons pas ce retour, l'article a été monté.", RR),
    (CR, "Re-bonjour, le numéro de suivi La Poste est RR123456789FR.", T),
]

ENGLISH += [
    (SC, "Hello,\n\nThe order has been cancelled as requested.\n\nKind regards,\nSupport", C),
    (SC, "We have cancelled the order and refunded you.", C),
    (SC, "The cancellation was successful.", C),
    (SC, "Sorry, the parcel was shipped on Monday.", R),
    (SC, "It has already been dispatched, we cannot stop it.", R),
    (SC, "Unfortunately we are unable to cancel this order.", R),
    (SC, "Can you tell me why you want to cancel?", U),
    (SR, "Return address:\nAcme Returns, 55 Water Street, London E1 6AB, United Kingdom", RA),
    (SR, "We won't accept the return, sorry.", U),  # "won't accept" without "returns are": for the operator
    (CR, "Posted today with Colissimo, tracking 6A12345678901", T),
]

SUPPLIER_ENGLISH += [
    (SC, "Dear friend, we have canceled your order, money will back in 3-5 days.", C),
    (SC, "Hello dear, ok, cancel done.", C),
    (SC, "Dear, order cancelled success.", C),
    (SC, "Dear buyer, cancellation is confirmed.", C),
    (SC, "Dear, we already stopped the shipment for you.", C),
    (SC, "Dear, we intercepted the parcel, cancel ok.", C),
    (SC, "Hi friend, we will cancel it for you.", U),  # a promise, not done yet
    (SC, "Dear friend, the goods has been shipped, can not cancel.", R),
    (SC, "Dear, sorry, already sent, the tracking number is LP00123456789012.", R),
    (SC, "Hi dear, your order already ship, please refuse the parcel when arrive.", R),
    (SC, "Dear, cannot cancel, goods already produced for you.", R),
    (SC, "Sorry friend, the factory already made the goods.", R),
    (SC, "Dear, unable to cancel, logistics already pick up.", R),
    (SC, "Dear, it is on the way, please wait receive.", R),
    (SC, "Dear friend, we are checking, please wait 24 hours.", U),
    (SC, "Hi, please tell me the reason of cancel?", U),
    (SC, "Dear, can you accept 10% discount and keep the order?", U),
    (SC, "Hello, our warehouse is closed for Chinese New Year.", U),
    (SR, "Dear, please send back to: Warehouse 3, 12 Guanlan Road, Shenzhen 518110 China. RMA: GL-887", RA),
    (SR, "Dear friend, return address is:\nNo. 5 Huangpu Road\nGuangzhou 510700\nChina", RA),
    (SR, "Sorry dear, we do not accept return for this item.", RR),
    (SR, "Dear, return not possible, we can refund 10%.", RR),
    (SR, "Dear, why you want return?", U),
    (SR, "Hello, please send photo first.", U),
    (CR, "Dear seller, I send back with Yanwen tracking YT1234567890123456", T),
    (SR, "Dear, please wait, tomorrow we send the address.", U),
    (SC, "Dear, no problem, the order is cancelled.", C),
    (SC, "Dear friend, sorry, the items are already in production, can't cancel.", R),
    (SC, "Hello, we got your message.", U),
    (SC, "Dear, we check the order status and reply soon.", U),
    (SC, "Dear friend, your order has been cancel successfully.", C),
]

ENGLISH += [
    (SC, "Hi,\nJust confirming the order was cancelled and nothing will ship.\nThanks", C),
    (SC, "I'm afraid it already shipped this morning.", R),
]
SUPPLIER_ENGLISH += [
    (SC, "Dear, sorry, goods already out from factory, cannot cancel.", R),
]

# Negated acceptances are no acceptance.
FRENCH += [(SC, "La commande n'a pas été annulée pour l'instant.", U)]
ENGLISH += [(SC, "The order has not been cancelled yet.", U),
            (SC, "We have not cancelled it, we are waiting for the factory.", U)]
SUPPLIER_ENGLISH += [(SC, "Dear, order not cancel yet, we check.", U)]
