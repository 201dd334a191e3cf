"""Burn-down of credit grants: Stripe's order, and balances that never go below zero."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from metered.billing.credit_burn import GrantBalance, LineShare, burn_down


def grant(pk: int, balance: int, priority: int = 50, expires_at: int | None = None,
          category: str = "paid", effective_at: int = 0,
          prices: frozenset[int] | None = None) -> GrantBalance:
    return GrantBalance(pk, balance, priority, expires_at, category, effective_at, prices)


def test_order_priority_expiry_category_effective_creation() -> None:
    grants = [
        grant(1, 10),
        grant(2, 10, category="promotional"),
        grant(3, 10, expires_at=500),
        grant(4, 10, priority=0),
        grant(5, 10, effective_at=-5),
        grant(6, 10, expires_at=100),
    ]
    applied = burn_down(grants, [LineShare(0, 7, True, 1000)])
    assert [a.grant_pk for a in applied] == [4, 6, 3, 2, 5, 1]


def test_scopes_and_caps() -> None:
    lines = [LineShare(0, 7, True, 300), LineShare(1, 8, False, 500),
             LineShare(2, 9, True, -100), LineShare(3, 9, True, 50)]
    applied = burn_down([grant(1, 1000, prices=frozenset({9})), grant(2, 1000)], lines)
    # Grant 1 pays price 9's positive line (50); grant 2 every metered line up to what the
    # invoice's subtotal (700) leaves: 300 of line 0. The licensed line gets nothing.
    assert [(a.grant_pk, a.line_index, a.amount) for a in applied] == [(1, 3, 50), (2, 0, 300)]


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[GrantBalance], list[LineShare]]:
    grants = [
        grant(pk, draw(st.integers(0, 5000)), draw(st.integers(0, 100)),
              draw(st.one_of(st.none(), st.integers(0, 10))),
              draw(st.sampled_from(["paid", "promotional"])), draw(st.integers(0, 10)),
              draw(st.one_of(st.none(), st.frozensets(st.integers(1, 4), max_size=3))))
        for pk in range(draw(st.integers(0, 6)))
    ]
    lines = [LineShare(i, draw(st.one_of(st.none(), st.integers(1, 4))), draw(st.booleans()),
                       draw(st.integers(-2000, 5000)))
             for i in range(draw(st.integers(0, 8)))]
    return grants, lines


@given(cases(), st.randoms())
def test_balances_and_lines_never_go_below_zero(case: tuple[list[GrantBalance],
                                                            list[LineShare]], rnd: object) -> None:
    grants, lines = case
    applied = burn_down(grants, lines)
    for g in grants:
        assert sum(a.amount for a in applied if a.grant_pk == g.pk) <= g.balance
    for line in lines:
        assert sum(a.amount for a in applied if a.line_index == line.index) <= max(line.amount,
                                                                                   0)
    assert sum(a.amount for a in applied) <= max(sum(line.amount for line in lines), 0)
    assert all(a.amount > 0 for a in applied)
    shuffled = grants[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert burn_down(shuffled, lines) == applied  # the order is the grants', not the input's
