"""`empgan table` building blocks without a store: number formats, milestone lists, labels, formats."""

import math

import pytest

from empgan.config import build_config, flatten, to_dict
from empgan.errors import UserError
from empgan.report.export import parse_milestones
from empgan.report.labels import config_key, make_labels
from empgan.report.render import check_format, format_for_output
from empgan.report.units import format_duration, format_label_value, format_milestone, format_value


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (45.9, "45s"), (59.99, "59s"), (60, "1m"), (900, "15m"), (1860, "31m"), (3599.9, "59m"),
    (3600, "1h 0m"), (3840, "1h 4m"), (5940, "1h 39m"), (7920, "2h 12m"), (25080, "6h 58m"), (90061, "25h 1m"),
    (math.nan, "?"), (-1, "?"),
])
def test_durations_floor_to_whole_minutes(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("kimg, text", [
    (100, "0.1M"), (800, "0.8M"), (250, "0.25M"), (1500, "1.5M"), (1000, "1M"), (10000, "10M"), (2, "0.002M"),
])
def test_milestones_in_millions_of_images(kimg, text):
    assert format_milestone(kimg) == text


@pytest.mark.parametrize("raw, text", [
    ("10.0", "10"), ("1.0", "1"), ("0.0", "0"), ("88", "88"), ("0.5", "0.5"), ("0.0002", "0.0002"),
    ("True", "True"), ("builtin:digits", "builtin:digits"), ("[100, 200]", "[100, 200]"),
])
def test_label_values_drop_trailing_zero(raw, text):
    assert format_value(raw) == text


@pytest.mark.parametrize("raw, text", [
    ("18.759092183177927", "18.76"), ("2.208995274719197", "2.209"), ("10.0", "10"), ("0.0002", "0.0002"),
    ("1234567.5", "1.235e+06"), ("True", "True"),
])
def test_labels_round_sampled_floats_to_four_significant_digits(raw, text):
    assert format_label_value(raw) == text


def test_milestone_lists():
    assert parse_milestones(None) is None
    assert parse_milestones("100,200,800") == [100, 200, 800]
    assert parse_milestones(" 800, 2 ,100") == [2, 100, 800]
    assert parse_milestones([400, 100]) == [100, 400]


@pytest.mark.parametrize("bad, named", [("100,abc", "'abc'"), ("0", "'0'"), ("1.5", "'1.5'"), ("", "''"),
                                        ("-100", "'-100'"), ("100,100", "repeated")])
def test_bad_milestone_lists_are_one_line_user_errors(bad, named):
    with pytest.raises(UserError) as err:
        parse_milestones(bad)
    message = str(err.value)
    assert f"milestones '{bad}'" in message and named in message and "e.g. 100,200,400" in message
    assert "\n" not in message


def test_formats():
    assert check_format("latex") == "latex"
    with pytest.raises(UserError, match=r"^unknown table format 'xls'; allowed: md, csv, latex, html$"):
        check_format("xls")
    assert [format_for_output(p) for p in ("t.tex", "t.CSV", "t.htm", "t.md", "t.txt", None)] == \
        ["latex", "csv", "html", "md", "md", "md"]
    with pytest.raises(UserError, match=r"^--output 't.pdf': no table format writes '.pdf' files"):
        format_for_output("t.pdf")


def params(**over) -> dict[str, str]:
    base = {"resolution": 256, "total_kimg": 800, "milestones_kimg": [100, 800]}
    return {k: str(v) for k, v in flatten(to_dict(build_config({**base, **over}))).items()}


PG = {"batch": 88}
EG = {"batch": 32, "patch_num": 8, "prob": 1, "w": 10, "len": 32, "proj_reduce": True, "emp": True}


def test_labels_as_the_report_writes_them():
    rows = [("PG", params(**PG)), ("EG", params(**EG)), ("EG", params(**{**EG, "proj_reduce": False, "prob": 0.5}))]
    assert make_labels(rows) == ["PG, batch=88", "EG,patch=8,prob=1,batch=32,w=10,len=32,C",
                                 "EG,patch=8,prob=0.5,batch=32,w=10,len=32"]


def test_labels_show_other_keys_that_differ_between_rows():
    rows = [("PG", params(**PG)), ("PG", params(**PG, w=2)),
            ("EG", params(**EG)), ("EG", params(**EG, **{"emp_loss": {"hidden": 4096}, "model": {"ngf": 64}}))]
    assert make_labels(rows) == [
        "PG, batch=88, model.ngf=128, w=1", "PG, batch=88, model.ngf=128, w=2",   # w varies among PG rows
        "EG,patch=8,prob=1,batch=32,w=10,len=32,C,emp_loss.hidden=1024,model.ngf=128",
        "EG,patch=8,prob=1,batch=32,w=10,len=32,C,emp_loss.hidden=4096,model.ngf=64"]


def test_eg_only_keys_stay_out_of_pg_labels_and_no_emp_is_flagged():
    rows = [("PG", params(**PG)), ("EG", params(**{**EG, "emp": False, "emp_loss": {"hidden": 4096}}))]
    assert make_labels(rows) == ["PG, batch=88", "EG,patch=8,prob=1,batch=32,w=10,len=32,C,noEMP"]


def test_seeds_and_bookkeeping_keys_do_not_split_a_configuration():
    a = params(**EG, seed=0, device="cuda:0", eval={"cache_dir": "/a"})
    b = params(**EG, seed=3, device="cpu", eval={"cache_dir": "/b"}, checkpoint={"keep_last": 5})
    assert config_key("EG", a) == config_key("EG", b)
    assert config_key("EG", a) != config_key("EG", params(**{**EG, "w": 5}, seed=0))
    assert config_key("EG", a) != config_key("PG", a)
