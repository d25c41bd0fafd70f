"""The speaker's command line: MetalLB's flags where MetalLB has one, ours checked."""

import pytest

from speaker.program import parse_args


def test_excluded_nodes_are_left_out_unless_asked_as_metallb_does():
    assert parse_args(["--node-name", "n1"]).ignore_exclude_lb is False
    assert parse_args(["--node-name", "n1", "--ignore-exclude-lb"]).ignore_exclude_lb is True


def test_probing_defaults_to_a_three_tenths_window_and_zero_turns_it_off():
    assert parse_args(["--node-name", "n1"]).probe_window == pytest.approx(0.3)
    assert parse_args(["--node-name", "n1", "--probe-window", "0"]).probe_window == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["--probe-window", "-1"],
        ["--reprobe-interval", "0"],
        ["--recheck-interval", "-5"],
        ["--lease-renew", "30", "--lease-duration", "30"],
    ],
)
def test_nonsense_is_refused_with_a_message(flags, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--node-name", "n1", *flags])
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
