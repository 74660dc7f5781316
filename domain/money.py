"""Money as `Decimal` plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, field_validator

# Currencies without minor units that a European dropshipper may meet.
_ZERO_DECIMAL = {"JPY", "KRW", "CLP", "VND", "XOF", "XAF", "ISK", "HUF"}

DecimalStr = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str, when_used="json")]


def minor_units(currency: str) -> int:
    return 0 if currency.upper() in _ZERO_DECIMAL else 2


class Money(BaseModel):
    """An amount in one currency, rounded to the currency's minor unit."""

    model_config = ConfigDict(frozen=True)

    amount: DecimalStr
    currency: str

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        if len(v) != 3 or not v.isalpha():
            raise ValueError(f"not an ISO 4217 currency code: {v!r}")
        return v.upper()

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal(cls, v: Any) -> Decimal:
        if isinstance(v, float):
            # A float has already lost precision; go through its shortest repr.
            v = repr(v)
        return Decimal(str(v))

    def model_post_init(self, __context: Any) -> None:
        q = Decimal(1).scaleb(-minor_units(self.currency))
        object.__setattr__(self, "amount", self.amount.quantize(q, rounding=ROUND_HALF_UP))

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        return cls(amount=Decimal(str(amount)), currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=Decimal(0), currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        return Money(amount=self.amount * Decimal(factor), currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def minor(self) -> int:
        """Amount in minor units (cents), as Stripe wants it."""
        return int((self.amount * (10 ** minor_units(self.currency))).to_integral_value())

    def format(self, locale: str = "en") -> str:
        """Human text for messages: `19,99 €` in French, `€19.99` in English."""
        symbols = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
        sym = symbols.get(self.currency, self.currency)
        places = minor_units(self.currency)
        text = f"{self.amount:,.{places}f}"
        if locale.startswith("fr"):
            text = text.replace(",", "\u202f").replace(".", ",")
            return f"{text}\u00a0{sym}"
        return f"{sym}{text}" if len(sym) == 1 else f"{text} {sym}"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
