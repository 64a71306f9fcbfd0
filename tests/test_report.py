"""`empgan table` against real MLflow stores (sqlite, and a loopback `mlflow server`) filled through MlflowClient."""

import csv
import io
import re
import socket
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from empgan.cli import run as cli_run
from empgan.config import build_config, flatten, to_dict
from empgan.errors import UserError
from empgan.report import export_table, print_table_for_sweep
from empgan.report.histories import _per_run_rows, fetch_histories
from mlflow_server import mlflow_server

SHA1 = "0123abcd4567ef890123abcd4567ef890123abcd"
BASE = {"resolution": 256, "total_kimg": 800, "milestones_kimg": [100, 200, 300, 400, 500, 600, 700, 800]}
PG = {"batch": 88}
EG = {"batch": 32, "patch_num": 8, "prob": 1, "w": 10, "len": 32, "proj_reduce": True, "emp": True}
# The report's PG row: step (kimg) -> (FID, wall-clock seconds).
PG_HISTORY = {100: (75.09, 900), 200: (59.33, 1860), 300: (46.51, 2880), 400: (40.17, 3840),
              600: (41.61, 5940), 800: (36.15, 7920)}
EG_HISTORY = {100: (70.12, 1200), 200: (62.5, 2400)}  # stopped early after 0.2M

REPORT_MD = """\
Experiment {name} · dataset builtin:digits · 256x256 · FID of 10000 samples vs all real images · FID weights sha1 0123abcd

| Config | 0.1M | 0.2M | 0.3M | 0.4M | 0.6M | 0.8M |
|:---|---:|---:|---:|---:|---:|---:|
| PG, batch=88 | 75.09/15m | **59.33**/31m | 46.51/48m | 40.17/1h 4m | 41.61/1h 39m | 36.15/2h 12m |
| EG,patch=8,prob=1,batch=32,w=10,len=32,C† | **70.12**/20m | 62.50/40m |  |  |  |  |

Cells: FID/time at that many real images shown (M = million); time = wall-clock since the trial started \
(training + FID) rounded down to whole minutes; best FID of each column (of 2+ values) in bold.

† stopped early by the scheduler
"""


class Store:
    """Fills an MLflow store the way sweeps record trials (one parent run per sweep, one child per trial)."""

    def __init__(self, uri: str, artifact_root: str | None):
        self.uri, self.client, self.artifact_root = uri, MlflowClient(uri), artifact_root

    def sweep(self, name: str, parent: bool = True) -> tuple[str, str | None]:
        location = f"{self.artifact_root}/{name}" if self.artifact_root else None
        exp_id = self.client.create_experiment(name, artifact_location=location)
        if not parent:
            return exp_id, None
        run = self.client.create_run(exp_id, run_name=name, tags={"empgan.role": "sweep", "empgan.sweep": name})
        return exp_id, run.info.run_id

    def trial(self, exp_id, parent_id, over, history, status="completed", seed=0, tags=None, role="trial"):
        cfg = build_config({**BASE, **over, "seed": seed})
        label = "PG" if cfg.model_kind == "PG" else f"EG patch={cfg.patch_num} prob={cfg.prob:g} w={cfg.w:g}"
        run_tags = {"empgan.role": role, "status": status, "model": cfg.model_kind, "fid_weights_sha1": SHA1,
                    "dataset_hash": "d41d8cd9", "trial_id": f"t{seed}", "node": "n1", "gpu": "H200", "git_sha": "abc"}
        if parent_id:
            run_tags["mlflow.parentRunId"] = parent_id
        run = self.client.create_run(exp_id, run_name=f"{label} seed={seed}", tags={**run_tags, **(tags or {})})
        metrics = []
        for step, (fid, wall) in history.items():
            ts = 1_700_000_000_000 + int(wall * 1000)
            metrics += [Metric("fid", fid, ts, step), Metric("wall_clock_s", wall, ts, step),
                        Metric("train_time_s", wall * 0.9, ts, step), Metric("eval_time_s", wall * 0.1, ts, step),
                        Metric("kimg", step, ts, step), Metric("loss_d", 0.5, ts, step)]
        params = [Param(k, str(v)) for k, v in flatten(to_dict(cfg)).items()]
        self.client.log_batch(run.info.run_id, metrics=metrics, params=params)
        self.client.set_terminated(run.info.run_id, "FAILED" if status == "failed" else "FINISHED")
        return run.info.run_id

    def report_sweep(self, name: str) -> str:
        exp_id, parent = self.sweep(name)
        self.trial(exp_id, parent, PG, PG_HISTORY)
        self.trial(exp_id, parent, EG, EG_HISTORY, status="stopped_early")
        return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    return Store(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts"))


def test_markdown_is_the_reports_table(store, tmp_path):
    store.report_sweep("md")
    text = export_table("md", store.uri, plot_dir=tmp_path)
    assert text == REPORT_MD.format(name="md")
    assert "75.09/15m" in text and "40.17/1h 4m" in text


def test_plots_beside_the_output_and_on_the_parent_run(store, tmp_path):
    parent = store.report_sweep("plots")
    out = tmp_path / "paper" / "table.md"
    text = export_table("plots", store.uri, output=out)
    assert out.read_text(encoding="utf-8") == text == REPORT_MD.format(name="plots")
    for png in ("table_fid_vs_kimg.png", "table_fid_vs_time.png"):
        assert (out.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    logged = {f.path: f.file_size for f in store.client.list_artifacts(parent, "report")}
    assert set(logged) == {"report/table.md", "report/table_fid_vs_kimg.png", "report/table_fid_vs_time.png"}
    assert logged["report/table_fid_vs_kimg.png"] == (out.parent / "table_fid_vs_kimg.png").stat().st_size
    fetched = store.client.download_artifacts(parent, "report/table.md", str(tmp_path / "dl"))
    assert Path(fetched).read_text(encoding="utf-8") == text


def seeds_sweep(store, name):
    exp_id, parent = store.sweep(name)
    store.trial(exp_id, parent, EG, {100: (50.0, 600), 200: (40.0, 1200)}, seed=0)
    store.trial(exp_id, parent, EG, {100: (52.0, 660), 200: (44.0, 1320)}, seed=1)
    store.trial(exp_id, parent, EG, {100: (57.0, 720)}, seed=2, status="diverged")
    store.trial(exp_id, parent, PG, {100: (60.0, 300), 200: (45.5, 700)}, seed=0)
    return parent


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Config")]


def test_seeds_are_grouped_into_mean_and_std(store, tmp_path):
    seeds_sweep(store, "seeds")
    text = export_table("seeds", store.uri, plot_dir=tmp_path)
    # FID at 0.1M: 50, 52, 57 -> mean 53.00, sample std sqrt(13) = 3.61; time mean 660 s = 11m.
    # At 0.2M only seeds 0 and 1: 40, 44 -> 42.00 ± 2.83 (sqrt 8), time 1260 s = 21m, 2 of 3 runs.
    assert table_lines(text) == [
        "| PG, batch=88 | 60.00/5m | 45.50/11m |",
        "| EG,patch=8,prob=1,batch=32,w=10,len=32,C (3 runs)‡ | **53.00±3.61**/11m | **42.00±2.83**/21m (2/3) |",
    ]
    assert "‡ diverged" in text and "mean±std (sample std)" in text and "†" not in text


def test_by_seed_gives_one_row_per_run(store, tmp_path):
    seeds_sweep(store, "by-seed")
    text = export_table("by-seed", store.uri, by_seed=True, plot_dir=tmp_path)
    assert table_lines(text) == [
        "| PG, batch=88, seed=0 | 60.00/5m | 45.50/11m |",
        "| EG,patch=8,prob=1,batch=32,w=10,len=32,C,seed=0 | **50.00**/10m | **40.00**/20m |",
        "| EG,patch=8,prob=1,batch=32,w=10,len=32,C,seed=1 | 52.00/11m | 44.00/22m |",
        "| EG,patch=8,prob=1,batch=32,w=10,len=32,C,seed=2‡ | 57.00/12m |  |",
    ]
    assert "mean±std" not in text


def test_chosen_milestones_including_one_nobody_reached(store, tmp_path):
    store.report_sweep("milestones")
    text = export_table("milestones", store.uri, milestones="800,100,500", plot_dir=tmp_path)
    assert "| Config | 0.1M | 0.5M | 0.8M |" in text
    assert table_lines(text) == ["| PG, batch=88 | 75.09/15m |  | 36.15/2h 12m |",
                                 "| EG,patch=8,prob=1,batch=32,w=10,len=32,C† | **70.12**/20m |  |  |"]


class CellParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.bold, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "b":
            self.bold.append(len(self.rows[-1]))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_csv_latex_and_html_have_the_same_cells(store, tmp_path):
    seeds_sweep(store, "formats")
    text_csv = export_table("formats", store.uri, fmt="csv", plots=False)
    parsed = list(csv.reader(io.StringIO(text_csv)))
    comments = [r for r in parsed if r[0].startswith("#")]
    cells = [r for r in parsed if not r[0].startswith("#")]
    assert [len(r) for r in comments] == [1, 1, 1, 1]
    assert comments[0][0].startswith("# Experiment formats · dataset builtin:digits")
    assert cells == [
        ["Config", "0.1M", "0.2M"],
        ["PG, batch=88", "60.00/5m", "45.50/11m"],
        ["EG,patch=8,prob=1,batch=32,w=10,len=32,C (3 runs)‡", "53.00±3.61/11m", "42.00±2.83/21m (2/3)"],
    ]

    html_parser = CellParser()
    html_parser.feed(export_table("formats", store.uri, fmt="html", plots=False))
    assert html_parser.rows == cells
    assert html_parser.bold == [1, 2]          # row 3's two cells are the best of their columns

    latex = export_table("formats", store.uri, fmt="latex", plots=False)
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", latex).group(1)
    body = [line for line in latex.splitlines() if line.endswith(r"\\")]
    assert len(body) == 3 and all(line.count("&") == len(spec) - 1 for line in body)
    assert r"C (3 runs)$^\ddagger$ & \textbf{53.00$\pm$3.61}/11m & \textbf{42.00$\pm$2.83}/21m (2/3) \\" in latex
    assert all(line.startswith("%") for line in latex.split(r"\begin{tabular}")[0].splitlines())


def test_refuses_to_mix_fid_settings_and_names_the_key(store):
    exp_id, parent = store.sweep("mixed")
    store.trial(exp_id, parent, PG, PG_HISTORY)
    store.trial(exp_id, parent, {**EG, "fid_samples": 2048, "eval": {"fid_min_samples": 1024}}, EG_HISTORY)
    with pytest.raises(UserError) as err:
        export_table("mixed", store.uri, plots=False)
    message = str(err.value)
    assert "mixes FID settings" in message and "fid_samples is 10000 in 1 run" in message
    assert "2048 in 1 run (e.g. 'EG patch=8 prob=1 w=10 seed=0')" in message and "\n" not in message

    exp_id, parent = store.sweep("mixed-weights")
    store.trial(exp_id, parent, PG, PG_HISTORY)
    store.trial(exp_id, parent, EG, EG_HISTORY, tags={"fid_weights_sha1": "ffff0000"})
    with pytest.raises(UserError, match=f"fid_weights_sha1 is {SHA1} in 1 run .* vs ffff0000 in 1 run"):
        export_table("mixed-weights", store.uri, plots=False)
    # --filter selects comparable runs
    text = export_table("mixed-weights", store.uri, filter_string=f"tags.`fid_weights_sha1` = '{SHA1}'", plots=False)
    assert table_lines(text) == ["| PG, batch=88 | 75.09/15m | 59.33/31m | 46.51/48m | 40.17/1h 4m | 41.61/1h 39m | 36.15/2h 12m |"]


def test_only_trials_of_this_experiments_sweeps_count(store):
    exp_id, parent = store.sweep("others")
    store.trial(exp_id, parent, PG, PG_HISTORY)
    store.trial(exp_id, parent, EG, EG_HISTORY, role="probe")                            # not a trial
    stranger = store.client.create_run(exp_id, run_name="not a sweep").info.run_id
    store.trial(exp_id, stranger, EG, EG_HISTORY)                                         # parent is not a sweep
    store.trial(exp_id, None, {**PG, "batch": 64}, {100: (80.0, 1000)})                   # a lone tracked trial
    assert [line.split(" |")[0] for line in table_lines(export_table("others", store.uri, plots=False))] == \
        ["| PG, batch=64", "| PG, batch=88"]

    store.sweep("empty-sweep")
    with pytest.raises(UserError, match=r"experiment 'empty-sweep' has no trial runs \(runs tagged empgan.role=trial"):
        export_table("empty-sweep", store.uri)


def test_bulk_histories_equal_per_run_histories_and_keep_the_last_value_of_a_step(store):
    exp_id, parent = store.sweep("histories")
    runs = [store.trial(exp_id, parent, PG, PG_HISTORY, seed=s) for s in range(3)]
    store.client.log_metric(runs[1], "fid", 99.5, timestamp=1_800_000_000_000, step=100)  # a resumed trial re-logs 0.1M
    bulk = fetch_histories(store.client, store.uri, runs, ("fid", "wall_clock_s"))
    assert bulk[runs[0]]["fid"] == {step: fid for step, (fid, _) in PG_HISTORY.items()}
    assert bulk[runs[1]]["fid"][100] == 99.5 and bulk[runs[2]]["wall_clock_s"][800] == 7920
    per_run = sorted(_per_run_rows(store.client, runs, "fid"))
    assert len(per_run) == 3 * len(PG_HISTORY) + 1
    latest = {}
    for run_id, step, ts, value in per_run:
        latest.setdefault(run_id, {})[step] = value   # sorted by timestamp within a step
    assert latest == {r: bulk[r]["fid"] for r in runs}


def test_print_table_for_sweep(store, capsys):
    parent = store.report_sweep("driver")
    text = print_table_for_sweep("driver", store.uri)
    assert capsys.readouterr().out == text == REPORT_MD.format(name="driver")
    assert {f.path for f in store.client.list_artifacts(parent, "report")} == \
        {"report/table.md", "report/driver_fid_vs_kimg.png", "report/driver_fid_vs_time.png"}


def test_cli_prints_the_table_and_uses_the_env_tracking_uri(store, tmp_path, capsys, monkeypatch):
    store.report_sweep("cli")
    assert cli_run(["table", "--experiment", "cli", "--tracking-uri", store.uri, "--no-plots"]) == 0
    assert capsys.readouterr().out == REPORT_MD.format(name="cli")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    out = tmp_path / "t.tex"
    assert cli_run(["table", "--experiment", "cli", "--output", str(out), "--milestones", "100,200"]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert r"\begin{tabular}{lrr}" in out.read_text() and (tmp_path / "t_fid_vs_time.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--experiment", "nope"], "empgan: error: experiment 'nope' not found at '{uri}'; experiments there: "),
    (["--experiment", "cli2", "--format", "xls"], "empgan: error: unknown table format 'xls'; allowed: md, csv, latex, html"),
    (["--experiment", "cli2", "--milestones", "100,x"], "empgan: error: milestones '100,x': 'x' is not a positive integer"),
    (["--experiment", "cli2", "--filter", "params.w ~ 3"], "empgan: error: MLflow at '{uri}': "),
])
def test_cli_bad_input_exits_2_with_one_line(store, capsys, argv, message):
    if "cli2" in argv and not store.client.get_experiment_by_name("cli2"):
        store.report_sweep("cli2")
    assert cli_run(["table", "--tracking-uri", store.uri, "--no-plots"] + argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message.format(uri=store.uri))
    assert captured.err.count("\n") == 1


def test_unreachable_stores_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli_run(["table", "--experiment", "x"]) == 2
    assert capsys.readouterr().err == (f"empgan: error: tracking URI 'sqlite:///{tmp_path}/mlflow.db': no MLflow "
                                       f"database at {tmp_path}/mlflow.db; pass --tracking-uri or set MLFLOW_TRACKING_URI\n")
    assert not (tmp_path / "mlflow.db").exists()
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli_run(["table", "--experiment", "x", "--tracking-uri", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"empgan: error: tracking URI 'http://127.0.0.1:{port}' cannot be reached (")
    assert err.count("\n") == 1

    assert cli_run(["table", "--experiment", "x", "--tracking-uri", "postgresql://mlflow:secret@127.0.0.2:5432/mlflow"]) == 2
    err = capsys.readouterr().err
    # SQLAlchemy's default postgresql driver (psycopg2 before 2.1, psycopg from 2.1) is not in the lock
    assert re.match(r"empgan: error: tracking URI 'postgresql://mlflow:\*\*\*@127\.0\.0\.2:5432/mlflow': the database "
                    r"driver for 'postgresql' is not installed \(No module named '(psycopg2?)'\); install the Python "
                    r"package '\1' where", err), err
    assert "secret" not in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on loopback (sqlite backend, artifacts served by the server itself)."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.mark.slow
def test_against_a_real_mlflow_server(server, tmp_path):
    store = Store(server, None)
    parent = store.report_sweep("served")
    text = export_table("served", server, output=tmp_path / "served.md")
    assert text == REPORT_MD.format(name="served")
    assert {f.path for f in store.client.list_artifacts(parent, "report")} == \
        {"report/table.md", "report/served_fid_vs_kimg.png", "report/served_fid_vs_time.png"}
    png = store.client.download_artifacts(parent, "report/served_fid_vs_time.png", str(tmp_path / "dl"))
    assert Path(png).read_bytes() == (tmp_path / "served_fid_vs_time.png").read_bytes()

    seeds_sweep(store, "served-seeds")
    served = export_table("served-seeds", server, fmt="csv", plots=False)
    assert "53.00±3.61/11m" in served and "42.00±2.83/21m (2/3)" in served
    runs = [r.info.run_id for r in store.client.search_runs([store.client.get_experiment_by_name("served-seeds").experiment_id])]
    bulk = fetch_histories(store.client, server, runs, ("fid",))
    per_run = {}
    for run_id, step, _, value in _per_run_rows(store.client, runs, "fid"):
        per_run.setdefault(run_id, {})[step] = value
    assert {r: h["fid"] for r, h in bulk.items() if h} == per_run and len(per_run) == 4


def test_cli_refuses_unknown_suffixes_and_folder_outputs_before_opening_mlflow(tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    store = tmp_path / "never.db"
    for output, message in [(tmp_path / "t.pdf", "no table format writes '.pdf' files; use a name ending in .md"),
                            (folder, "is a folder; give a file name such as"),
                            (a_file / "t.md", "is a file, not a folder")]:
        argv = ["table", "--experiment", "x", "--tracking-uri", f"sqlite:///{store}", "--output", str(output)]
        assert cli_run(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"empgan: error: --output '{output}'") and message in err and err.count("\n") == 1
    assert not store.exists() and list(folder.iterdir()) == []
