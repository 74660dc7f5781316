"""The customer page's words, in French and English (M1: simple, warm, clear next steps).

The reasons are the C1 and R9 taxonomies in plain words, the same labels as the emails
(domain/messages/context.py). Every sentence must stay true in law: a withdrawal is 14 days at
the least (L221-18), a faulty or damaged item is covered by the legal guarantee of conformity
for two years (L217-3), and a refund is due within 14 days (L221-24).
"""

from __future__ import annotations

from typing import Literal

Language = Literal["fr", "en"]

TEXTS: dict[str, dict[Language, str]] = {
    "title": {"fr": "Votre commande", "en": "Your order"},
    "skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "switch": {"fr": "English", "en": "Français"},
    "switch_label": {"fr": "Read this page in English", "en": "Lire cette page en français"},
    "welcome": {"fr": "Annuler une commande, retourner un article ou suivre votre demande : c'est ici, en "
                      "trois étapes au plus.",
                "en": "Cancel an order, return an item or follow your request: it is all here, in three "
                      "steps at most."},
    "proof_heading": {"fr": "Retrouvons votre commande", "en": "Let's find your order"},
    "proof_help": {"fr": "Le numéro figure dans l'e-mail de confirmation de commande.",
                   "en": "The number is in your order confirmation email."},
    "order_number": {"fr": "Numéro de commande", "en": "Order number"},
    "email": {"fr": "Adresse e-mail utilisée pour la commande", "en": "Email address used for the order"},
    "continue": {"fr": "Continuer", "en": "Continue"},
    "logged_in": {"fr": "Vous êtes connecté à votre compte client : le numéro de commande suffit.",
                  "en": "You are signed in to your customer account: the order number is enough."},
    "not_found": {"fr": "Nous ne trouvons pas de commande avec ce numéro et cette adresse e-mail. Vérifiez les "
                        "deux, ils figurent dans l'e-mail de confirmation.",
                  "en": "We could not find an order with this number and email address. Please check both: "
                        "they are in your order confirmation email."},
    "not_yours": {"fr": "Cette commande n'est pas rattachée à votre compte client.",
                  "en": "This order is not linked to your customer account."},
    "too_many": {"fr": "Trop d'essais en peu de temps : réessayez dans une minute.",
                 "en": "Too many tries in a short time: please try again in a minute."},
    "too_many_tries": {"fr": "Trop de numéros de commande essayés avec cette adresse e-mail : réessayez dans une "
                             "heure, ou écrivez-nous : {email}.",
                       "en": "Too many order numbers tried with this email address: please try again in an hour, "
                             "or write to us: {email}."},
    "store_down": {"fr": "Nous n'arrivons pas à joindre la boutique pour l'instant. Réessayez dans quelques "
                         "minutes, ou écrivez-nous : {email}.",
                   "en": "We cannot reach the store just now. Please try again in a few minutes, or write to "
                         "us: {email}."},
    "expired": {"fr": "Ce lien n'est plus valable. Indiquez votre numéro de commande et votre e-mail pour "
                      "continuer.",
                "en": "This link is no longer valid. Enter your order number and email to continue."},
    "csrf": {"fr": "Cette page a expiré (elle reste valable deux heures) : rien n'a été envoyé. Reprenez cette "
                   "étape, s'il vous plaît.",
             "en": "This page expired (it stays valid for two hours): nothing was sent. Please go through this "
                   "step again."},
    "start_again": {"fr": "Reprendre", "en": "Go back to my order"},
    "problem": {"fr": "Il y a un problème", "en": "There is a problem"},
    "step": {"fr": "Étape {n} sur 3", "en": "Step {n} of 3"},
    "choose_heading": {"fr": "Que souhaitez-vous faire pour la commande {order} ?",
                       "en": "What would you like to do with order {order}?"},
    "choose_cancel": {"fr": "Annuler la commande", "en": "Cancel the order"},
    "choose_cancel_help": {"fr": "Tant qu'elle n'est pas partie ; si le colis est déjà en route, cela devient "
                                 "un retour.",
                           "en": "While it has not left; if the parcel is already on its way, it becomes a "
                                 "return."},
    "choose_return": {"fr": "Retourner un article", "en": "Return an item"},
    "choose_return_help": {"fr": "Un article reçu qui ne convient pas, abîmé ou défectueux.",
                           "en": "An item you received that does not suit, is damaged or faulty."},
    "follow": {"fr": "Suivre ma demande", "en": "Follow my request"},
    "your_cases": {"fr": "Vos demandes en cours", "en": "Your requests"},
    "items_heading": {"fr": "Quels articles ?", "en": "Which items?"},
    "items_help_cancel": {"fr": "Ne cochez rien pour annuler toute la commande.",
                          "en": "Tick nothing to cancel the whole order."},
    "items_help_return": {"fr": "Ne cochez rien pour retourner tous les articles reçus.",
                          "en": "Tick nothing to return every item you received."},
    "sealed": {"fr": "Son emballage d'origine est encore scellé (jamais ouvert)",
               "en": "Its original packaging is still sealed (never opened)"},
    "reason_heading": {"fr": "Pour quelle raison ?", "en": "Why?"},
    "reason_missing": {"fr": "Choisissez une raison.", "en": "Please choose a reason."},
    "message": {"fr": "Un mot pour nous (facultatif)", "en": "A note for us (optional)"},
    "photos": {"fr": "Photos de l'article abîmé ou défectueux (facultatif, jusqu'à {n}, JPEG, PNG, WebP ou HEIC, "
                     "{mb} Mo chacune)",
               "en": "Photos of the damaged or faulty item (optional, up to {n}, JPEG, PNG, WebP or HEIC, "
                     "{mb} MB each)"},
    "photo_bad": {"fr": "« {name} » n'est pas une photo que nous pouvons lire (JPEG, PNG, WebP ou HEIC).",
                  "en": "“{name}” is not a photo we can read (JPEG, PNG, WebP or HEIC)."},
    "photo_big": {"fr": "« {name} » est trop lourde ({mb} Mo au plus).",
                  "en": "“{name}” is too large ({mb} MB at most)."},
    "too_large": {"fr": "Cet envoi est trop lourd ({mb} Mo au plus) : envoyez moins de photos, ou des photos plus "
                        "légères.",
                  "en": "This is too large to send ({mb} MB at most): send fewer or smaller photos."},
    "photos_full": {"fr": "Nous avons déjà {n} photos pour cette commande, le maximum que nous gardons : "
                          "écrivez-nous si vous devez en envoyer d'autres : {email}.",
                    "en": "We already have {n} photos for this order, the most we keep: please write to us if "
                          "you need to send more: {email}."},
    "photo_many": {"fr": "{n} photos au plus.", "en": "{n} photos at most."},
    "exchange_for": {"fr": "Taille ou couleur souhaitée en échange (facultatif)",
                     "en": "Size or colour you would like instead (optional)"},
    "review": {"fr": "Vérifier ma demande", "en": "Review my request"},
    "confirm_heading": {"fr": "Vérifiez et confirmez", "en": "Check and confirm"},
    "confirm_cancel": {"fr": "Confirmer l'annulation", "en": "Confirm the cancellation"},
    "confirm_return": {"fr": "Confirmer le retour", "en": "Confirm the return"},
    "back": {"fr": "Modifier", "en": "Change"},
    "whole_order": {"fr": "Toute la commande", "en": "The whole order"},
    "all_received": {"fr": "Tous les articles reçus", "en": "Every item received"},
    "reason": {"fr": "Raison", "en": "Reason"},
    "items": {"fr": "Articles", "en": "Items"},
    "offer_heading": {"fr": "Avant d'annuler : une autre solution ?", "en": "Before you cancel: another option?"},
    "offer_text": {"fr": "Nous pouvons vous proposer {offer}{code}. Si cela vous convient, gardez votre commande ; "
                         "sinon, l'annulation suit son cours, c'est votre droit.",
                   "en": "We can offer you {offer}{code}. If that suits you, keep your order; otherwise the "
                         "cancellation goes ahead, it is your right."},
    "offer_code": {"fr": " avec le code {code}", "en": " with the code {code}"},
    "keep_order": {"fr": "Je garde ma commande avec cette offre", "en": "I keep my order with this offer"},
    "insist": {"fr": "Non merci, j'annule", "en": "No thanks, cancel it"},
    "keep_it": {"fr": "Bonne nouvelle : pour cet article, vous n'aurez pas besoin de le renvoyer. Nous vous le "
                      "confirmons par e-mail, avec {outcome}.",
                "en": "Good news: for this item you will not need to send it back. We confirm it by email, "
                      "with {outcome}."},
    "keep_it_refund": {"fr": "le remboursement", "en": "the refund"},
    "keep_it_replacement": {"fr": "l'envoi d'un nouvel article", "en": "a replacement on its way"},
    "prepaid": {"fr": "Le retour est à nos frais : nous vous envoyons une étiquette prépayée.",
                "en": "The return is on us: we send you a prepaid label."},
    "customer_pays": {"fr": "Les frais de renvoi sont à votre charge.",
                      "en": "The return postage is paid by you."},
    "out_of_window": {"fr": "Le délai de retour de cette commande s'est terminé le {date}. Si un article est "
                            "abîmé, défectueux, ne correspond pas à la description ou n'est pas celui commandé, la "
                            "garantie légale de conformité s'applique pendant deux ans à compter de la livraison : "
                            "choisissez cette raison.",
                      "en": "The return window for this order ended on {date}. If an item is damaged, faulty, not "
                            "as described or not the one you ordered, the legal guarantee of conformity applies "
                            "for two years from delivery: choose that reason."},
    "guarantee_over": {"fr": "La garantie légale de conformité de cette commande s'est terminée le {date}. "
                             "Écrivez-nous si vous pensez qu'il y a une erreur : {email}.",
                       "en": "The legal guarantee of conformity for this order ended on {date}. Write to us if "
                             "you think this is a mistake: {email}."},
    "excluded": {"fr": "Ces articles ne peuvent pas être retournés : {why}. S'ils sont abîmés, défectueux, ne "
                       "correspondent pas à la description ou ne sont pas ceux commandés, choisissez cette raison "
                       "(garantie légale de conformité).",
                 "en": "These items cannot be returned: {why}. If they are damaged, faulty, not as described or "
                       "not the ones you ordered, choose that reason (legal guarantee of conformity)."},
    "not_shipped": {"fr": "Rien n'est encore parti : c'est une annulation, pas un retour.",
                    "en": "Nothing has left yet: this is a cancellation, not a return."},
    "done_heading": {"fr": "C'est noté, merci !", "en": "All set, thank you!"},
    "done_cancel": {"fr": "Votre demande d'annulation de la commande {order} est bien enregistrée. Un e-mail de "
                          "confirmation arrive dans quelques minutes.",
                    "en": "Your request to cancel order {order} is saved. A confirmation email is on its way "
                          "within minutes."},
    "done_return": {"fr": "Votre demande de retour pour la commande {order} est bien enregistrée. Un e-mail de "
                          "confirmation arrive dans quelques minutes.",
                    "en": "Your return request for order {order} is saved. A confirmation email is on its way "
                          "within minutes."},
    "done_kept": {"fr": "C'est noté : vous gardez la commande {order} avec l'offre. Un e-mail vous le confirme.",
                  "en": "Noted: you keep order {order} with the offer. An email confirms it."},
    "next_cancel": {"fr": "Ensuite : nous arrêtons la commande auprès de notre partenaire et nous vous écrivons "
                          "au plus tard le {answer}. Si l'annulation est possible, le remboursement est fait au "
                          "plus tard le {refund}, sur votre moyen de paiement d'origine.",
                    "en": "Next: we stop the order with our partner and write to you by {answer} at the latest. "
                          "If it can be cancelled, the refund is made by {refund} at the latest, to your "
                          "original payment method."},
    "next_return": {"fr": "Ensuite : nous vous envoyons l'adresse de retour (et l'étiquette s'il y en a une) au "
                          "plus tard le {answer}. Dès que le colis est parti, donnez-nous son numéro de suivi sur "
                          "cette page.",
                    "en": "Next: we send you the return address (and the label if there is one) by {answer} at "
                          "the latest. Once the parcel has left, give us its tracking number on this page."},
    "next_withdrawal": {"fr": "Le remboursement est dû dans les 14 jours suivant votre demande ; nous pouvons "
                              "l'attendre jusqu'à la preuve de l'envoi du colis ou son retour (article L221-24 du "
                              "code de la consommation).",
                        "en": "The refund is due within 14 days of your request; it may wait until you show us "
                              "the parcel was sent or it is back with us (French consumer code, L221-24)."},
    "next_keep_it": {"fr": "Ensuite : nous vous écrivons au plus tard le {answer}.",
                     "en": "Next: we write to you by {answer} at the latest."},
    "duplicate": {"fr": "Nous avions déjà cette demande : rien n'a été envoyé deux fois.",
                  "en": "We already had this request: nothing was sent twice."},
    "unverified": {"fr": "Nous n'avons pas pu vérifier la commande avec la boutique à l'instant : nous la "
                         "vérifions et vous écrivons par e-mail.",
                   "en": "We could not check the order with the store just now: we will check it and write to "
                         "you by email."},
    "later_heading": {"fr": "Dites-nous ce que vous souhaitez", "en": "Tell us what you would like"},
    "later_intro": {"fr": "Nous n'arrivons pas à joindre la boutique pour vérifier votre commande en ce moment. "
                          "Laissez-nous votre demande : nous la gardons, vérifions la commande dès que possible et "
                          "vous répondons par e-mail. Vous n'aurez rien à renvoyer.",
                    "en": "We cannot reach the store to check your order just now. Leave us your request: we keep "
                          "it, check the order as soon as we can and answer you by email. You will not need to "
                          "send it again."},
    "later_choice": {"fr": "Votre demande", "en": "Your request"},
    "later_pick": {"fr": "Choisissez…", "en": "Choose…"},
    "later_cancel": {"fr": "Annuler la commande", "en": "Cancel the order"},
    "later_return": {"fr": "Retourner un article", "en": "Return an item"},
    "later_missing": {"fr": "Choisissez ce que vous souhaitez.", "en": "Please choose what you would like."},
    "email_missing": {"fr": "Indiquez l'adresse e-mail utilisée pour la commande : nous vous répondrons là.",
                      "en": "Please give the email address used for the order: we will answer you there."},
    "checked_next": {"fr": "La boutique répond de nouveau et votre commande est vérifiée : un e-mail de "
                           "confirmation arrive à {email} avec la suite.",
                     "en": "The store answers again and your order is checked: a confirmation email is on its way "
                           "to {email} with what comes next."},
    "held_saved": {"fr": "Votre demande pour la commande {order} est bien enregistrée.",
                   "en": "Your request for order {order} is saved."},
    "held_next": {"fr": "La boutique ne répondait pas à l'instant, nous n'avons donc pas encore pu vérifier la "
                        "commande ni vous indiquer la suite. Nous le faisons dès que possible et vous répondons par "
                        "e-mail à {email}. Inutile de renvoyer la demande.",
                  "en": "The store did not answer just now, so we could not yet check the order or tell you what "
                        "comes next. We will do it as soon as we can and answer you by email at {email}. There is "
                        "no need to send the request again."},
    "refused": {"fr": "Nous n'avons pas pu enregistrer la demande : {reason}",
                "en": "We could not save the request: {reason}"},
    "recent": {"fr": "Cette commande a déjà plusieurs demandes récentes : réessayez dans une heure ou "
                     "écrivez-nous : {email}.",
               "en": "This order already has several recent requests: please try again in an hour or write to "
                     "us: {email}."},
    "case_heading": {"fr": "Où en est votre demande ?", "en": "Where is your request?"},
    "case_none": {"fr": "Aucune demande pour cette commande pour l'instant. Si vous venez de l'envoyer, elle "
                        "apparaît ici dans quelques minutes.",
                  "en": "No request for this order yet. If you just sent one, it shows here within minutes."},
    "kind_cancellation": {"fr": "Annulation", "en": "Cancellation"},
    "kind_return": {"fr": "Retour", "en": "Return"},
    "opened": {"fr": "Demandée le {date}", "en": "Asked on {date}"},
    "next_deadline": {"fr": "Prochaine étape attendue au plus tard le {date}.",
                      "en": "Next step expected by {date} at the latest."},
    "return_address": {"fr": "Adresse de retour", "en": "Return address"},
    "rma": {"fr": "Référence à écrire sur le colis : {rma}", "en": "Reference to write on the parcel: {rma}"},
    "label": {"fr": "Télécharger l'étiquette de retour", "en": "Download the return label"},
    "ship_by": {"fr": "À envoyer au plus tard le {date}.", "en": "Please send it by {date}."},
    "tracking_heading": {"fr": "Numéro de suivi du colis retour", "en": "Tracking number of the return parcel"},
    "tracking_help": {"fr": "C'est la preuve de l'envoi : le remboursement n'attend pas l'arrivée du colis.",
                      "en": "It proves the parcel was sent: the refund does not wait for it to arrive."},
    "tracking_help_plain": {"fr": "Il nous aide à suivre votre colis.", "en": "It helps us follow your parcel."},
    "tracking_number": {"fr": "Numéro de suivi", "en": "Tracking number"},
    "carrier": {"fr": "Transporteur (facultatif)", "en": "Carrier (optional)"},
    "send": {"fr": "Envoyer", "en": "Send"},
    "tracking_bad": {"fr": "Un numéro de suivi contient 5 à 50 lettres, chiffres, espaces ou tirets.",
                     "en": "A tracking number is 5 to 50 letters, digits, spaces or dashes."},
    "tracking_done": {"fr": "Merci, nous avons votre numéro de suivi.", "en": "Thank you, we have your tracking "
                                                                               "number."},
    "photos_heading": {"fr": "Ajouter des photos", "en": "Add photos"},
    "photos_done": {"fr": "Merci, {n} photo(s) ajoutée(s) à votre dossier.", "en": "Thank you, {n} photo(s) added "
                                                                                   "to your case."},
    "photos_none": {"fr": "Choisissez au moins une photo.", "en": "Please choose at least one photo."},
    "contact": {"fr": "Une question ? Écrivez-nous : {email}", "en": "A question? Write to us: {email}"},
    # L616-1: the consumer mediator, on every page of the site (so on every refusal shown here).
    "mediator": {"fr": "En cas de litige, vous pouvez faire appel gratuitement au médiateur de la consommation "
                       "dont nous relevons : {name}{site}.",
                 "en": "In case of a dispute, you can turn, free of charge, to the consumer mediator we belong "
                       "to: {name}{site}."},
    "forged": {"fr": "Cette page n'a pas pu être vérifiée. Ouvrez-la depuis la boutique.",
               "en": "This page could not be verified. Please open it from the store."},
    "not_configured": {"fr": "Cette page n'est pas encore disponible. Écrivez-nous : {email}.",
                       "en": "This page is not available yet. Please write to us: {email}."},
    "bad_request": {"fr": "Nous n'avons pas compris cette demande.", "en": "We did not understand this request."},
    "order_closed": {"fr": "Cette commande est déjà annulée.", "en": "This order is already cancelled."},
}

STATE_WORDS: dict[str, dict[Language, str]] = {
    "received": {"fr": "Demande reçue", "en": "Request received"},
    "offer_pending": {"fr": "Offre proposée", "en": "Offer made"},
    "awaiting_supplier": {"fr": "Nous attendons la réponse de notre partenaire", "en": "Waiting for our partner's "
                                                                                      "answer"},
    "cancelling": {"fr": "Annulation en cours", "en": "Being cancelled"},
    "cancelled": {"fr": "Annulée", "en": "Cancelled"},
    "closed": {"fr": "Terminée", "en": "Done"},
    "converted_to_return": {"fr": "Le colis était parti : la demande devient un retour",
                            "en": "The parcel had left: the request became a return"},
    "kept": {"fr": "Commande gardée avec l'offre", "en": "Order kept with the offer"},
    "rejected": {"fr": "Rien à annuler", "en": "Nothing to cancel"},
    "needs_operator": {"fr": "Un membre de l'équipe s'en occupe", "en": "A team member is looking into it"},
    "awaiting_shipment": {"fr": "À vous : envoyez le colis et donnez-nous son numéro de suivi",
                          "en": "Your turn: send the parcel and give us its tracking number"},
    "in_transit": {"fr": "Colis retour en route", "en": "Return parcel on its way"},
    "inspecting": {"fr": "Colis reçu, vérification en cours", "en": "Parcel received, being checked"},
    "refunding": {"fr": "Remboursement en cours", "en": "Refund under way"},
    "replacing": {"fr": "Nouvel article en préparation", "en": "Replacement being prepared"},
    "done": {"fr": "Remboursé ou remplacé", "en": "Refunded or replaced"},
    "refused": {"fr": "Retour non accepté (le détail est dans votre e-mail)",
                "en": "Return not accepted (the details are in your email)"},
    "expired": {"fr": "Clôturé : le colis n'a pas été envoyé à temps", "en": "Closed: the parcel was not sent "
                                                                            "in time"},
}

# The steps a customer sees, in order, per kind (the states between are shown as the current one).
STEPS: dict[str, list[str]] = {
    "cancellation": ["received", "awaiting_supplier", "cancelling", "cancelled", "closed"],
    "return": ["received", "awaiting_supplier", "awaiting_shipment", "in_transit", "inspecting", "refunding",
               "done"],
}


def t(key: str, language: Language, **values: object) -> str:
    text = TEXTS[key][language]
    return text.format(**values) if values else text


def state_words(state: str, language: Language) -> str:
    words = STATE_WORDS.get(state)
    return words[language] if words else state.replace("_", " ")


# C1 and R9 in the customer's own words (the emails' labels speak of the customer; these speak for them).
CANCEL_REASONS: dict[str, dict[Language, str]] = {
    "changed_mind": {"fr": "J'ai changé d'avis", "en": "I changed my mind"},
    "better_offer": {"fr": "J'ai trouvé une meilleure offre ailleurs", "en": "I found a better offer elsewhere"},
    "ordering_mistake": {"fr": "Je me suis trompé en commandant", "en": "I made a mistake when ordering"},
    "supplier_out_of_stock": {"fr": "On m'a dit que l'article n'est plus en stock",
                              "en": "I was told the item is out of stock"},
    "payment_problem": {"fr": "Un problème de paiement (carte refusée, mauvaises coordonnées)",
                        "en": "A payment problem (card refused, wrong details)"},
    "wrong_delivery_details": {"fr": "L'adresse ou les informations de livraison sont fausses",
                               "en": "The delivery address or details are wrong"},
    "delivery_too_slow": {"fr": "La livraison est trop longue", "en": "The delivery is too slow"},
    "unhappy_with_service": {"fr": "Je ne suis pas satisfait du service", "en": "I am unhappy with the service"},
    "site_technical_problem": {"fr": "Un problème technique sur le site", "en": "A technical problem on the website"},
    "other": {"fr": "Une autre raison (dites-le-nous ci-dessous)", "en": "Another reason (tell us below)"},
}

RETURN_REASONS: dict[str, dict[Language, str]] = {
    "wrong_size": {"fr": "La taille ne me va pas", "en": "The size does not fit"},
    "wrong_colour": {"fr": "La couleur ne me convient pas", "en": "The colour is not right for me"},
    "changed_mind": {"fr": "J'ai changé d'avis", "en": "I changed my mind"},
    "not_as_described": {"fr": "L'article ne correspond pas à la description", "en": "The item is not as described"},
    "damaged": {"fr": "L'article est arrivé abîmé", "en": "The item arrived damaged"},
    "defective": {"fr": "L'article ne fonctionne pas (défectueux)", "en": "The item does not work (faulty)"},
    "wrong_item": {"fr": "J'ai reçu un autre article que celui commandé", "en": "I received the wrong item"},
    "other": {"fr": "Une autre raison (dites-le-nous ci-dessous)", "en": "Another reason (tell us below)"},
}
