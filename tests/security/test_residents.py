"""Residents see only their own appeal, and cannot probe for others.

A wrong token and an unknown tracking number answer the same 404 (JSON API and the HTML
status page); a token works only with its own tracking number; look-ups are rate limited
per client (429 with Retry-After), other clients unaffected.
"""

from __future__ import annotations

import re

import httpx

from services.appeals.config import AppealsSettings
from tests.security.conftest import World, fresh_client

_VARYING = ("date", "content-length")


def _comparable(response: httpx.Response) -> tuple[int, str, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in _VARYING}
    return response.status_code, response.text, headers


def test_wrong_token_is_indistinguishable_from_unknown_tracking_number(world: World) -> None:
    mine = world.dispatched()
    other = world.dispatched()
    unknown = mine.tracking_no[:-4] + ("0000" if mine.tracking_no[-4:] != "0000" else "1111")
    with fresh_client() as resident:

        def look(tracking_no: str, token: str | None, *, query: bool = False) -> httpx.Response:
            url = world.url(f"/api/v1/status/{tracking_no}")
            if token is None:
                return resident.get(url)
            if query:
                return resident.get(url, params={"token": token})
            return resident.get(url, headers={"X-Appeal-Token": token})

        own = look(mine.tracking_no, mine.token)
        assert own.status_code == 200, own.text
        assert own.json()["tracking_no"] == mine.tracking_no
        assert look(mine.tracking_no, mine.token, query=True).status_code == 200

        refusals = [
            look(mine.tracking_no, other.token),  # someone else's token
            look(mine.tracking_no, mine.token[:-1] + ("A" if mine.token[-1] != "A" else "B")),
            look(mine.tracking_no, None),
            look(mine.tracking_no, ""),
            look(mine.tracking_no, other.token, query=True),
            look(unknown, mine.token),
            look(unknown, None),
            look("x" * 41, mine.token),  # longer than any tracking number
        ]
        first = _comparable(refusals[0])
        assert first[0] == 404, refusals[0].text
        for response in refusals[1:]:
            assert _comparable(response) == first, (response.status_code, response.text)
        # the answer names nothing of the appeal
        for response in refusals:
            assert mine.tracking_no not in response.text
            assert "dispatched" not in response.text

        # the review is guarded the same way: nothing is recorded
        version = world.doc(mine.id)["version"]
        review = resident.post(
            world.url(f"/api/v1/status/{mine.tracking_no}/review"),
            json={"satisfaction": "unsatisfied", "solved": False},
            headers={"X-Appeal-Token": other.token},
        )
        assert _comparable(review)[:2] == first[:2], review.text
        assert world.doc(mine.id)["version"] == version


def test_html_status_page_answers_the_same_for_wrong_token_and_unknown_number(
    world: World,
) -> None:
    mine = world.dispatched()
    other = world.dispatched()
    with fresh_client() as browser:
        page = browser.get(world.url("/status"))
        assert page.status_code == 200

        def look(tracking_no: str, token: str, previous: httpx.Response) -> httpx.Response:
            # every page carries a fresh token for its form (double-submit cookie)
            found = re.search(r'name="csrf" value="([^"]+)"', previous.text)
            assert found, "the status form carries a CSRF token"
            data = {"tracking_no": tracking_no, "token": token, "csrf": found.group(1)}
            return browser.post(world.url("/status"), data=data)

        own = look(mine.tracking_no, mine.token, page)
        assert own.status_code == 200, own.text
        unknown_no = mine.tracking_no[:-4] + "0000"
        wrong = look(mine.tracking_no, other.token, own)
        unknown = look(unknown_no, mine.token, wrong)
        assert wrong.status_code == unknown.status_code == 404

        # the same page, apart from the tracking number typed into the form and the new token
        def scrub(text: str) -> str:
            text = re.sub(r'name="csrf" value="[^"]+"', "", text)
            for typed in (mine.tracking_no, unknown_no, mine.token, other.token):
                text = text.replace(typed, "typed")
            return text

        assert scrub(wrong.text) == scrub(unknown.text)
        # a form without the CSRF token is refused
        stolen = browser.post(
            world.url("/status"), data={"tracking_no": mine.tracking_no, "token": mine.token}
        )
        assert stolen.status_code == 403
        assert mine.token not in stolen.text


def test_status_look_ups_are_rate_limited_per_client(world: World) -> None:
    appeal = world.dispatched()
    configured = world.services.env.get("APPEALS_STATUS_RATE_LIMIT_PER_MINUTE")
    default = AppealsSettings.model_fields["status_rate_limit_per_minute"].default
    limit = int(configured) if configured else int(default)
    url = world.url(f"/api/v1/status/{appeal.tracking_no}")
    with fresh_client() as prober, fresh_client() as neighbour:
        answers = [
            prober.get(url, headers={"X-Appeal-Token": "guess"}).status_code
            for _ in range(limit + 3)
        ]
        assert answers[:limit] == [404] * limit, answers
        assert answers[limit:] == [429] * 3, answers
        limited = prober.get(url, headers={"X-Appeal-Token": appeal.token})
        assert limited.status_code == 429  # even with the right token now
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert appeal.tracking_no not in limited.text
        # another client is not affected
        other = neighbour.get(url, headers={"X-Appeal-Token": appeal.token})
        assert other.status_code == 200, other.text
