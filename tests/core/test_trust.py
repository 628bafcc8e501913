"""Sender trust as real providers write it (mailbot.core.trust, core.authres)."""

from __future__ import annotations

import pytest

from mailbot.core.authres import parse_auth_results
from mailbot.core.model import Address, Mail
from mailbot.core.trust import policy_for, trust_verdict

GMAIL = (
    "mx.google.com; dkim=pass header.i=@thcspomlot.edu.vn; spf=pass smtp.mailfrom=a@b; "
    "dmarc=pass (p=NONE) header.from=thcspomlot.edu.vn"
)
M365 = (
    "spf=pass (sender IP is 40.107.1.1) smtp.mailfrom=thcspomlot.edu.vn; dkim=pass "
    "(signature was verified) header.d=thcspomlot.edu.vn;dmarc=pass action=none "
    "header.from=thcspomlot.edu.vn;compauth=pass reason=100"
)
FORGED_FAIL = "mx.google.com; dmarc=fail header.from=thcspomlot.edu.vn"


def _mail(*headers: str) -> Mail:
    return Mail(
        sha256="0",
        message_id="<x@y>",
        sender=Address("", "hieutruong@thcspomlot.edu.vn"),
        auth=tuple(parse_auth_results(h) for h in headers),
    )


def test_microsoft_header_has_no_authserv_id_and_keeps_its_first_result() -> None:
    result = parse_auth_results(M365)
    assert (result.authserv_id, result.spf, result.dmarc) == ("", "pass", "pass")


@pytest.mark.parametrize(
    ("provider", "headers", "verified", "dmarc"),
    [
        ("google", (GMAIL,), True, "pass"),
        ("google", (FORGED_FAIL, GMAIL), False, "fail"),
        ("google", (M365,), True, None),
        ("microsoft", (M365,), True, "pass"),
        ("microsoft", ("spf=fail smtp.mailfrom=x; dmarc=fail header.from=y", M365), False, "fail"),
        ("microsoft", (GMAIL,), True, None),
        ("own-server", ("mx.thcspomlot.edu.vn; dmarc=fail", GMAIL), False, "fail"),
    ],
)
def test_only_the_topmost_header_of_the_configured_provider_counts(
    provider: str, headers: tuple[str, ...], verified: bool, dmarc: str | None
) -> None:
    """Gmail stamps mx.google.com, Microsoft 365 stamps no authserv-id; the topmost wins."""
    verdict = trust_verdict(_mail(*headers), policy_for(provider, "mx.thcspomlot.edu.vn", True))
    assert (verdict.verified, verdict.dmarc) == (verified, dmarc)


def test_a_school_may_refuse_mail_without_its_servers_header() -> None:
    verdict = trust_verdict(_mail(GMAIL), policy_for("own-server", "mx.thcspomlot.edu.vn", False))
    assert not verdict.verified
