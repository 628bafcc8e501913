"""Decide whether the sender's address can be believed.

Anyone can write an ``Authentication-Results`` header (RFC 8601 §5), so only
the topmost one stamped by the school's own receiving server counts: that
server adds its header above everything the sender wrote. Its ``dmarc=``
verdict decides: ``fail`` means the From address is forged or unaligned, and
the message is treated as coming from an unknown sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.core.model import AuthResult, Mail

__all__ = [
    "PROVIDER_IDS",
    "TrustPolicy",
    "TrustVerdict",
    "policy_for",
    "trust_verdict",
    "trusted_result",
]

PROVIDER_IDS = {"google": "mx.google.com", "microsoft": ""}


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Whose ``Authentication-Results`` to believe.

    ``authserv_id`` is the receiving server's name as it writes it
    (``mx.thcspomlot.edu.vn`` in the demo). ``trust_unauthenticated`` lets a
    school whose server writes no such header trust the From as it stands.
    """

    authserv_id: str = "mx.thcspomlot.edu.vn"
    trust_unauthenticated: bool = True


@dataclass(frozen=True, slots=True)
class TrustVerdict:
    """``verified`` is False when the sender must not be believed; ``reason`` says why."""

    verified: bool
    dmarc: str | None
    reason: str


def policy_for(provider: str, server: str, trust_unauthenticated: bool) -> TrustPolicy:
    """Whose header to believe: Gmail stamps ``mx.google.com``; Microsoft 365 stamps
    its header with no authserv-id; an own server stamps its configured name."""
    return TrustPolicy(PROVIDER_IDS.get(provider, server), trust_unauthenticated)


def trusted_result(mail: Mail, policy: TrustPolicy) -> AuthResult | None:
    """The topmost Authentication-Results header written by our own server."""
    wanted = policy.authserv_id.lower()
    return next((ar for ar in mail.auth if ar.authserv_id == wanted), None)


def trust_verdict(mail: Mail, policy: TrustPolicy) -> TrustVerdict:
    """Believe the sender unless our server's DMARC verdict failed or From is ambiguous."""
    if mail.sender is None:
        return TrustVerdict(False, None, f"no single valid From: {mail.sender_problem}")
    result = trusted_result(mail, policy)
    if result is None:
        return TrustVerdict(
            policy.trust_unauthenticated,
            None,
            f"no Authentication-Results from {policy.authserv_id}",
        )
    if result.dmarc in ("fail", "permerror"):
        return TrustVerdict(False, result.dmarc, f"dmarc={result.dmarc} at {result.authserv_id}")
    return TrustVerdict(True, result.dmarc, f"dmarc={result.dmarc} at {result.authserv_id}")
