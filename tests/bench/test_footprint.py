import math

import pytest

from bench.footprint_figures import (
    GOALS,
    Memory,
    Metric,
    Usage,
    against_bare,
    cpu_percent,
    judge,
    ratio,
    rollup_memory,
    stat_ticks,
    status_rss,
    verdict_line,
    warnings_between,
)
from bench.footprint_imports import ImportCost, median_memory, parse_report, table

NAN = math.nan

STATUS = """\
Name:\tpython
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t  300000 kB
VmRSS:\t  117760 kB
RssAnon:\t   80000 kB
Threads:\t7
"""

ROLLUP = """\
55d0c0a00000-7ffd5a3f6000 ---p 00000000 00:00 0                          [rollup]
Rss:              117760 kB
Pss:               99328 kB
Pss_Anon:          80000 kB
Shared_Clean:      18432 kB
Shared_Dirty:          0 kB
Private_Clean:     10240 kB
Private_Dirty:     81920 kB
Referenced:       117760 kB
"""

# Field 2 may hold spaces and parentheses; utime (14) = 1200 and stime (15) = 34.
STAT = (
    "4242 (python (worker) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1200 34 0 0 20 0 7 0"
    " 123456 300000000 29440 18446744073709551615"
)


def test_rss_is_read_from_the_status_vmrss_line_in_mib():
    assert status_rss(STATUS) == 115.0


def test_a_status_without_vmrss_gives_a_missing_figure():
    assert math.isnan(status_rss("Name:\tkthreadd\nState:\tS (sleeping)\n"))
    assert math.isnan(status_rss(""))


def test_pss_and_uss_come_from_smaps_rollup_uss_being_private_clean_plus_dirty():
    memory = rollup_memory(ROLLUP)
    assert memory.rss == 115.0
    assert memory.pss == 97.0
    assert memory.uss == 90.0


def test_an_unreadable_rollup_gives_missing_pss_and_uss():
    memory = rollup_memory("")
    assert math.isnan(memory.pss)
    assert math.isnan(memory.uss)


def test_cpu_ticks_are_utime_plus_stime_counted_after_the_last_parenthesis():
    assert stat_ticks(STAT) == 1234.0


@pytest.mark.parametrize("text", ["", "4242 (python) S 1 2 3", "4242 python S " + "1 " * 20])
def test_a_stat_that_cannot_be_parsed_gives_a_missing_figure(text):
    assert math.isnan(stat_ticks(text))


def test_cpu_percent_is_ticks_over_wall_time_as_a_share_of_one_core():
    assert cpu_percent(26, 30.0, 100.0) == pytest.approx(0.8667, abs=1e-4)
    assert cpu_percent(0, 30.0, 100.0) == 0.0
    assert cpu_percent(300, 30.0, 100.0) == 10.0


@pytest.mark.parametrize(("ticks", "seconds"), [(NAN, 30.0), (5, 0.0), (5, NAN), (-1, 30.0)])
def test_cpu_percent_is_missing_when_a_reading_or_the_window_is(ticks, seconds):
    assert math.isnan(cpu_percent(ticks, seconds, 100.0))


def test_the_ratio_to_the_bare_interpreter_is_missing_without_a_positive_base():
    assert ratio(115.0, 11.0) == pytest.approx(10.45, abs=0.01)
    assert math.isnan(ratio(115.0, 0.0))
    assert math.isnan(ratio(NAN, 11.0))
    assert math.isnan(ratio(115.0, NAN))


def usage(role: str, rss: float, cpu: float = 0.0) -> Usage:
    return Usage(role, Memory(rss), cpu)


def test_goals_apply_at_100_services_to_speakers_and_the_controller_only():
    usages = [usage("controller", 59.0), usage("speaker node-1", 61.0, 0.1),
              usage("speaker node-2", 50.0, 0.9), usage("API server", 500.0)]  # fmt: skip
    verdicts = judge(usages, 100)
    met = {(v.usage.role, v.goal.metric): v.met for v in verdicts}
    assert met == {
        ("controller", Metric.RSS): True,
        ("speaker node-1", Metric.RSS): False,
        ("speaker node-2", Metric.RSS): True,
        ("speaker node-1", Metric.CPU): True,
        ("speaker node-2", Metric.CPU): False,
    }
    assert judge(usages, 1000) == []


def test_a_process_that_could_not_be_read_misses_its_goal():
    verdicts = judge([usage("controller", NAN), usage("speaker node-1", 20.0, NAN)], 100)
    assert [(v.usage.role, v.goal.metric, v.met) for v in verdicts] == [
        ("speaker node-1", Metric.RSS, True),
        ("controller", Metric.RSS, False),
        ("speaker node-1", Metric.CPU, False),
    ]


def test_a_goal_with_no_process_at_all_is_a_missed_goal_not_a_silent_pass():
    verdicts = judge([usage("controller", 20.0)], 100)
    missing = [v for v in verdicts if v.usage.role == "speaker"]
    assert len(missing) == 2
    assert not any(v.met for v in missing)
    assert all(math.isnan(v.value) for v in missing)


def test_the_verdict_line_names_the_figure_the_baseline_the_goal_and_the_outcome():
    (verdict,) = judge([usage("controller", 115.0)], 100, GOALS[1:2])
    line = verdict_line(verdict, usage("bare interpreter", 11.0))
    assert line == (
        "controller RSS 115 MiB = 10.5x a bare interpreter (11 MiB);"
        " goal <= 60 MiB at 100 Services: MISSED"
    )


def test_without_a_baseline_the_line_says_there_is_no_ratio():
    assert against_bare(0.9, NAN, Metric.CPU) == "(a bare interpreter: not measured; no ratio)"
    assert against_bare(0.9, 0.0, Metric.CPU) == (
        "(a bare interpreter: 0.00 % of a core; no ratio)"
    )


def test_an_import_report_is_split_into_status_and_rollup():
    memory = parse_report(STATUS + "--- smaps_rollup ---\n" + ROLLUP)
    assert memory == Memory(rss=115.0, pss=97.0, uss=90.0)


def test_the_median_of_import_samples_is_missing_if_any_sample_is():
    samples = [Memory(10.0, 5.0, 4.0), Memory(12.0, 6.0, 5.0), Memory(11.0, NAN, 4.5)]
    middle = median_memory(samples)
    assert (middle.rss, middle.uss) == (11.0, 4.5)
    assert math.isnan(middle.pss)


def test_the_import_table_sets_each_module_against_the_bare_interpreter():
    lines = table([ImportCost("", Memory(10.0, 5.0, 4.0), 0.0),
                   ImportCost("kopf", Memory(60.0, 45.0, 43.0), 50.0)])  # fmt: skip
    assert lines[1].split() == ["(bare", "interpreter)", "10.0", "5.0", "4.0", "0.0", "1.0"]
    assert lines[2].split() == ["import", "kopf", "60.0", "45.0", "43.0", "50.0", "6.0"]


def test_warnings_are_counted_only_inside_the_window_and_only_at_warning_or_worse():
    lines = [
        (9.0, "2026-12-02 23:29:04,000 WARNING speaker.worker: before the window"),
        (10.0, "2026-12-02 23:29:05,065 WARNING speaker.wire.responder: the responder stalled"),
        (11.0, "2026-12-02 23:29:06,000 INFO speaker.worker: handing 203.0.113.9 over"),
        (12.0, "2026-12-02 23:29:07,000 ERROR speaker.worker: something broke"),
        (None, "Traceback (most recent call last): WARNING in a continuation line"),
        (21.0, "2026-12-02 23:29:16,000 WARNING speaker.worker: after the window"),
    ]
    assert warnings_between(lines, 10.0, 20.0) == 2
    assert warnings_between([], 10.0, 20.0) == 0
