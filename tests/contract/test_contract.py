"""Every task image honours docs/task-contract.md, checked from the outside with Docker.

Parametrised over the images of hack/lib.sh: a new language passes this file unchanged.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest

from taskpods import exit_codes
from tests.contract.harness import XCOM_DIR, Run, TaskImage, error_lines

pytestmark = pytest.mark.docker

RunImage = Any
StartImage = Any
RESULT = f"{XCOM_DIR}/return.json"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"debug", "info", "warn", "error"}
EXIT = {  # the one table (taskpods.exit_codes), by the names the tools log
    "ok": exit_codes.OK,
    "usage": exit_codes.USAGE,
    "permanent": exit_codes.PERMANENT,
    "internal": exit_codes.INTERNAL,
    "transient": exit_codes.TRANSIENT,
    "nothing_to_do": exit_codes.NOTHING_TO_DO,
    "terminated": exit_codes.TERMINATED,
}


def assert_one_usage_error(run: Run, named: str) -> None:
    assert run.code == EXIT["usage"], run.stderr
    errors = run.errors()
    assert len(errors) == 1, f"expected one error line, got: {run.stderr}"
    [error] = errors
    assert error["error_kind"] == "usage"
    assert error["exit_code"] == EXIT["usage"]
    assert named in json.dumps(error), f"error line does not name {named!r}: {error}"


def test_image_runs_as_numeric_non_root_user_and_is_not_latest(image: TaskImage) -> None:
    user = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", image.ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    uid = user.split(":", 1)[0]
    assert uid.isdigit(), f"USER must be numeric for runAsNonRoot, got: {user!r}"
    assert int(uid) != 0
    assert not image.ref.endswith(":latest")


def test_help_exits_zero_on_stdout(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["--help"])
    assert run.code == EXIT["ok"], run.stderr
    assert "selfcheck" in run.stdout


def test_command_help_exits_zero(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--help"])
    assert run.code == EXIT["ok"], run.stderr
    assert "--fail-with" in run.stdout
    assert "--hold" in run.stdout


def test_bad_flag_is_usage_error_naming_it(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--definitely-not-a-flag"])
    assert_one_usage_error(run, "--definitely-not-a-flag")
    assert run.result_text is None


def test_bad_value_is_usage_error_naming_the_flag(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--log-level", "loud"])
    assert_one_usage_error(run, "--log-level")
    assert "loud" in run.errors()[0]["error"]


def test_missing_command_is_usage_error(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, [])
    assert run.code == EXIT["usage"], run.stderr
    assert len(run.errors()) == 1


def test_selfcheck_writes_the_result(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--result-file", RESULT])
    assert run.code == EXIT["ok"], run.stderr
    result = run.result
    assert set(result) == {"status", "tool", "version", "command", "counts", "outputs"}
    assert result["status"] == "ok"
    assert result["tool"] == image.tool
    assert result["command"] == "selfcheck"
    assert result["counts"] == {"checks": 1, "failed": 0}
    assert all(isinstance(v, int) and v >= 0 for v in result["counts"].values())
    outputs = result["outputs"]
    assert outputs["uid"] != 0, "the image must run as non-root without --user"
    assert outputs["scratch_dir"] == "/tmp"
    assert isinstance(outputs["runtime"], str)
    assert outputs["runtime"]
    assert run.stdout == "", "stdout is for results: with a result file it stays empty"


def test_result_file_from_env_and_printed_when_unset(image: TaskImage, run_image: RunImage) -> None:
    via_env = run_image(image, ["selfcheck"], env={f"{image.env_prefix}RESULT_FILE": RESULT})
    assert via_env.code == EXIT["ok"], via_env.stderr
    assert via_env.result["tool"] == image.tool
    printed = run_image(image, ["selfcheck"])
    assert printed.code == EXIT["ok"], printed.stderr
    assert printed.result_text is None
    assert json.loads(printed.stdout)["command"] == "selfcheck"


def test_log_lines_are_json_with_the_agreed_keys(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--result-file", RESULT])
    assert run.code == EXIT["ok"], run.stderr
    assert [line["msg"] for line in run.lines][:1] == ["selfcheck started"]
    assert run.lines[-1]["msg"] == "selfcheck done"
    for line in run.lines:
        assert {"ts", "level", "msg", "tool"} <= line.keys(), line
        assert TS.match(line["ts"]), line
        assert line["level"] in LEVELS, line
        assert line["tool"] == image.tool, line


def test_log_level_flag_and_env(image: TaskImage, run_image: RunImage) -> None:
    quiet_env = run_image(image, ["selfcheck"], env={f"{image.env_prefix}LOG_LEVEL": "error"})
    assert quiet_env.code == EXIT["ok"], quiet_env.stderr
    assert quiet_env.lines == []
    # flags win over env, and common flags may come before the command
    loud_flag = run_image(
        image,
        ["--log-level", "info", "selfcheck"],
        env={f"{image.env_prefix}LOG_LEVEL": "error"},
    )
    assert loud_flag.code == EXIT["ok"], loud_flag.stderr
    assert any(line["msg"] == "selfcheck done" for line in loud_flag.lines)


def test_secrets_never_appear_in_output(image: TaskImage, run_image: RunImage) -> None:
    secrets = {
        f"{image.env_prefix}DEMO_PASSWORD": "pw-4c1f9e2a-value",
        f"{image.env_prefix}API_TOKEN": "tok-8d0b6e1f-value",
        f"{image.env_prefix}S3_SECRET_ACCESS_KEY": "sak-2e7a5c3d-value",
    }
    for args in (["selfcheck", "--result-file", RESULT], ["selfcheck", "--fail-with", "permanent"]):
        run = run_image(image, [*args, "--log-level", "debug"], env=secrets)
        seen = run.stdout + run.stderr + (run.result_text or "")
        for name, value in secrets.items():
            assert value not in seen, f"{name}'s value leaked"
    config = run_image(image, ["selfcheck", "--result-file", RESULT], env=secrets)
    shown = config.result["outputs"]["config"]
    assert {name: shown.get(name) for name in secrets} == dict.fromkeys(secrets, "[redacted]")
    assert list(shown) == sorted(shown), "config is listed sorted by name"


@pytest.mark.parametrize("kind", ["permanent", "transient"])
def test_failure_exit_codes(image: TaskImage, run_image: RunImage, kind: str) -> None:
    run = run_image(image, ["selfcheck", "--fail-with", kind, "--result-file", RESULT])
    assert run.code == EXIT[kind], run.stderr
    [error] = run.errors()
    assert error["error_kind"] == kind
    assert error["exit_code"] == EXIT[kind]
    assert run.result_text is None, "no result on failure"


def test_nothing_to_do_exit_code_with_result(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--fail-with", "nothing-to-do", "--result-file", RESULT])
    assert run.code == EXIT["nothing_to_do"], run.stderr
    assert run.result["status"] == "nothing_to_do"
    assert run.errors() == []


def test_root_filesystem_is_read_only_and_scratch_is_checked(
    image: TaskImage, run_image: RunImage
) -> None:
    # /var/tmp exists in every image but lies on the read-only root: a permanent failure
    # that names the directory, and nothing written.
    run = run_image(image, ["selfcheck", "--scratch-dir", "/var/tmp", "--result-file", RESULT])
    assert run.code == EXIT["permanent"], run.stderr
    [error] = run.errors()
    assert "/var/tmp" in error["error"]
    assert run.result_text is None


def at(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))


def test_selfcheck_holds_then_writes_the_result(image: TaskImage, run_image: RunImage) -> None:
    run = run_image(image, ["selfcheck", "--hold", "2", "--result-file", RESULT])
    assert run.code == EXIT["ok"], run.stderr
    msgs = [line["msg"] for line in run.lines]
    assert msgs[0] == "selfcheck started"
    assert msgs[-1] == "selfcheck done"
    [holding] = [line for line in run.lines if line["msg"] == "selfcheck holding"]
    assert holding["level"] == "info"
    assert holding["seconds"] == 2
    assert "selfcheck held" not in msgs, "held lines come every 5 s, not within 2 s"
    held_for = (at(run.lines[-1]) - at(holding)).total_seconds()
    assert held_for >= 2, f"held {held_for:.3f} s"
    assert run.result["outputs"]["held_s"] == 2


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_bad_hold_is_usage_error_naming_the_value(
    image: TaskImage, run_image: RunImage, bad: str
) -> None:
    run = run_image(image, ["selfcheck", "--hold", bad, "--result-file", RESULT])
    assert_one_usage_error(run, "--hold")
    error = run.errors()[0]["error"]
    assert f'"{bad}"' in error, f"the error does not quote the bad value: {error}"
    assert "86400" in error, f"the error does not say what was expected: {error}"
    assert run.result_text is None


def test_sigterm_stops_a_task_at_once_with_143_and_no_result(
    image: TaskImage, start_image: StartImage
) -> None:
    # Kubernetes deleting the pod, `docker stop`: SIGTERM to PID 1, SIGKILL after the grace.
    container = start_image(image, ["selfcheck", "--hold", "60", "--result-file", RESULT])
    container.follow_until("selfcheck holding")
    sent = time.monotonic()
    subprocess.run(
        ["docker", "stop", "--time", "10", container.id], capture_output=True, check=True
    )
    stopped_in = time.monotonic() - sent
    assert container.exit_code() == EXIT["terminated"], container.lines()
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop (grace 10 s)"
    lines = container.lines()
    terminated = [line for line in lines if line["msg"] == "terminated"]
    assert terminated == [lines[-1]], f"expected one terminated line, last: {lines}"
    assert terminated[0]["level"] == "warn"
    assert terminated[0]["signal"] == "SIGTERM"
    assert error_lines(lines) == [], "a stop on request is not a failure of the task"
    assert list(container.xcom.iterdir()) == [], "no result (nor temp file) on SIGTERM"
