"""`zoom-operator run --event-loop`: uvloop's loop by default, asyncio's on request or without uvloop."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from zoom_operator.cli import build_parser
from zoom_operator.runner import event_loop


def test_uvloop_is_the_default_and_asyncio_can_be_chosen() -> None:
    run = ["run", "--standalone"]
    assert build_parser().parse_args(run).event_loop == "uvloop"
    assert build_parser().parse_args([*run, "--event-loop", "asyncio"]).event_loop == "asyncio"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*run, "--event-loop", "trio"])


def test_the_named_loop_runs_coroutines_and_is_closed_afterwards() -> None:
    async def which() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    with event_loop("uvloop") as loop:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(which()).startswith("uvloop")
    assert loop.is_closed()
    with event_loop("asyncio") as loop:
        assert not isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(which()) == "asyncio.unix_events"
    assert loop.is_closed()


def test_without_uvloop_installed_the_operator_runs_on_asyncio_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    with event_loop("uvloop") as loop:
        assert not isinstance(loop, uvloop.Loop)
    assert "uvloop is not installed" in caplog.text
