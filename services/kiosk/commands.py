"""The commands a kiosk tablet may send. The kiosk refuses any other (services/kiosk/app.py),
and so does NATS: the kiosk's user may publish exactly these command subjects (house/auth.py)."""

from __future__ import annotations

KIOSK_MAY: dict[str, frozenset[str]] = {
    "meals": frozenset({"volunteer_to_cook", "withdraw", "sign_up_to_eat", "cancel_eating"}),
    "rota": frozenset(
        {
            "join_cleaning_party",
            "leave_cleaning_party",
            "take_task",
            "drop_task",
            "sign_up_for_shift",
            "withdraw_from_shift",
            "check_in",
            "offer_hand_over",
            "take_hand_over",
            "confirm_claim",
        }
    ),
    "onboarding": frozenset({"register_newcomer"}),
}
