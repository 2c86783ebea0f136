"""Who may sign up, as data: the address's shape and the domains that hand out throwaway
addresses. Rate limits per address and per network are settings
(`HEIRLOOM_RATE_LIMIT_SIGNUP_EMAIL`, `HEIRLOOM_RATE_LIMIT_SIGNUP_NETWORK`)."""

from __future__ import annotations

import re

from heirloom.domain.errors import SignupRefused

# Disposable-address services: an account made there is a way round the free tier's daily limit.
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "10minutemail.com",
        "dispostable.com",
        "discard.email",
        "fakeinbox.com",
        "getnada.com",
        "guerrillamail.com",
        "guerrillamail.net",
        "mailinator.com",
        "mailnesia.com",
        "maildrop.cc",
        "mintemail.com",
        "moakt.com",
        "sharklasers.com",
        "spamgourmet.com",
        "temp-mail.org",
        "tempmail.dev",
        "throwawaymail.com",
        "trashmail.com",
        "yopmail.com",
    }
)
# Addresses that name a role, not a person, or that bounce by design.
BLOCKED_LOCAL_PARTS: frozenset[str] = frozenset({"abuse", "postmaster", "noreply", "no-reply"})
# RFC 5321's limits; the shape is deliberately plain: one @, a dotted domain, no spaces.
MAX_EMAIL_LENGTH = 254
_SHAPE = re.compile(r"^[^@\s<>\"(),;:]{1,64}@([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


def normalize_email(email: str) -> str:
    """The address as accounts store it: trimmed, lower case."""
    return email.strip().lower()


def check_signup_email(email: str) -> str:
    """The normalized address, or SignupRefused saying why it cannot sign up."""
    address = normalize_email(email)
    if len(address) > MAX_EMAIL_LENGTH or not _SHAPE.match(address):
        raise SignupRefused("This is not an email address we can send a link to.")
    local, _, domain = address.partition("@")
    if domain in DISPOSABLE_DOMAINS or any(domain.endswith("." + d) for d in DISPOSABLE_DOMAINS):
        raise SignupRefused("Addresses from disposable-mail services cannot sign up.")
    if local in BLOCKED_LOCAL_PARTS:
        raise SignupRefused("Please sign up with a personal address, not a role address.")
    return address
