"""The commands a kiosk tablet and a crew member's own page may send. The kiosk server refuses
any other (services/kiosk/app.py), and so does NATS: the kiosk's user may publish exactly these
command subjects (house/auth.py)."""

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
    # "send my page to my e-mail": only ever to the address the person gave
    "notices": frozenset({"ask_for_page_link"}),
    # one tap to sign up to an activity, take its task, join an initiative, "jeg har bidraget"
    "activities": frozenset(
        {
            "sign_up",
            "withdraw",
            "take_task",
            "drop_task",
            "join_initiative",
            "leave_initiative",
            "record_contribution",
        }
    ),
}

# Leadership is shared: with their own link (`crew link`) every crew member may do what a tablet
# may, and also plan and change meals and series, move or cancel a day, state standing
# intentions and let a place held for them go, host a newcomer's conversation, welcome or kindly
# redirect, and choose their notices. Forgetting, importing crew and tokens stay with coordinators (docs/pages.md).
MEMBER_MAY: dict[str, frozenset[str]] = {
    "meals": KIOSK_MAY["meals"]
    | {"plan_meal", "reschedule_meal", "cancel_meal", "close_meal", "record_meal_served"},
    "rota": KIOSK_MAY["rota"]
    | {
        "schedule_series",
        "change_series",
        "move_occurrence",
        "cancel_occurrence",
        "state_intention",
        "drop_intention",
        "release_claim",
    },
    "onboarding": KIOSK_MAY["onboarding"]
    | {
        "schedule_conversation",
        "record_conversation",
        "onboard_newcomer",
        "redirect_newcomer",
        "assign_buddy",
    },
    "notices": KIOSK_MAY["notices"] | {"subscribe", "unsubscribe", "set_address", "stop_notices"},
    "activities": KIOSK_MAY["activities"]
    | {
        "plan_activity",
        "change_activity",
        "cancel_activity",
        "sign_up_guest",
        "withdraw_guest",
        "start_initiative",
        "hand_on_initiative",
        "define_contribution_kind",
    },
}

# The field that names who acts. From a personal page it must name the page's own person (else
# 403); the other people a command may name (a host, a buddy, whom a hand-over is taken from)
# are about someone else by nature.
ACTS_AS = "crew_id"
# Commands whose `crew_id` is someone else by nature: anyone may record another person's
# contribution, with that person as the one credited.
ABOUT_SOMEONE: frozenset[tuple[str, str]] = frozenset({("activities", "record_contribution")})
