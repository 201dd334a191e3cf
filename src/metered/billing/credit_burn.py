"""Burn-down: which credit grants pay which invoice lines, in a deterministic order.

Pure: grants with their balances and the invoice's lines in, applications out. Grants are
used in Stripe's order: priority (0 first), then the soonest expiry (never-expiring last),
then promotional before paid, then the earliest effective, then the oldest. Each grant pays
the lines it applies to, in line order, up to its balance; no line is paid beyond its amount
and the invoice never beyond its subtotal, so a balance never goes below zero.
"""

from __future__ import annotations

from dataclasses import dataclass

NEVER = 2**63 - 1


@dataclass(frozen=True, slots=True)
class GrantBalance:
    pk: int
    balance: int  # minor units available at the invoice's finalization
    priority: int
    expires_at: int | None
    category: str
    effective_at: int
    price_pks: frozenset[int] | None  # None: every metered price

    def applies_to(self, price_pk: int | None, metered: bool) -> bool:
        if price_pk is None:
            return False
        return metered if self.price_pks is None else price_pk in self.price_pks

    @property
    def order(self) -> tuple[int, int, int, int, int]:
        return (self.priority, self.expires_at or NEVER, 0 if self.category == "promotional"
                else 1, self.effective_at, self.pk)


@dataclass(frozen=True, slots=True)
class LineShare:
    index: int  # the line's position on the invoice
    price_pk: int | None
    metered: bool
    amount: int


@dataclass(frozen=True, slots=True)
class Application:
    grant_pk: int
    line_index: int
    amount: int  # > 0


def burn_down(grants: list[GrantBalance], lines: list[LineShare]) -> list[Application]:
    remaining = {line.index: max(line.amount, 0) for line in lines}
    cap = max(sum(line.amount for line in lines), 0)
    out: list[Application] = []
    for grant in sorted(grants, key=lambda g: g.order):
        balance = grant.balance
        for line in lines:
            if balance <= 0 or cap <= 0:
                break
            if not grant.applies_to(line.price_pk, line.metered):
                continue
            take = min(balance, remaining[line.index], cap)
            if take > 0:
                out.append(Application(grant.pk, line.index, take))
                remaining[line.index] -= take
                balance -= take
                cap -= take
    return out
