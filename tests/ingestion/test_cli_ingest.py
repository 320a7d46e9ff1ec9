"""`aiaas ingest PATH...` in embedded mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from aiaas.cli import app as main_app
from aiaas.ingestion.cli import collect_files, ingest
from tests.ingestion.support import CSV_FAQ, MARKDOWN

runner = CliRunner()
cli = typer.Typer()
cli.command()(ingest)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIAAS_TELEMETRY__LOG_LEVEL", "WARNING")
    for name in ("AIAAS_DATABASE_URL", "AIAAS_REDIS_URL", "AIAAS_NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def test_collect_files_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "kb" / "sub").mkdir(parents=True)
    (tmp_path / "kb" / "a.md").write_bytes(MARKDOWN)
    (tmp_path / "kb" / "sub" / "b.csv").write_bytes(CSV_FAQ)
    (tmp_path / "kb" / "skip.bin").write_bytes(b"\x00")
    names = [p.name for p in collect_files([tmp_path / "kb", tmp_path / "kb" / "a.md"])]
    assert names == ["a.md", "b.csv"]


def test_ingest_indexes_files_with_a_summary(data_dir: Path, tmp_path: Path) -> None:
    assert runner.invoke(main_app, ["migrate"]).exit_code == 0
    assert runner.invoke(main_app, ["demo"]).exit_code == 0
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "returns.md").write_bytes(MARKDOWN)
    (folder / "faq.csv").write_bytes(CSV_FAQ)
    result = runner.invoke(cli, [str(folder), "--tenant", "acme", "--tag", "policies"])
    assert result.exit_code == 0, result.output
    assert "returns.md" in result.output and "faq.csv" in result.output
    assert result.output.count("ready") == 2
    again = runner.invoke(cli, [str(folder / "faq.csv"), "--tenant", "acme"])
    assert again.exit_code == 0 and "duplicate" in again.output
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    broken = runner.invoke(cli, [str(folder / "broken.pdf"), "-t", "acme"])
    assert broken.exit_code == 1 and "failed" in broken.output
    unknown = runner.invoke(cli, [str(folder), "-t", "nobody"])
    assert unknown.exit_code == 1


def test_reindex_needs_an_embedding_model(data_dir: Path, tmp_path: Path) -> None:
    assert runner.invoke(main_app, ["migrate"]).exit_code == 0
    nothing = runner.invoke(cli, [])
    assert nothing.exit_code == 2 and "--reindex" in nothing.output
    files_without_tenant = runner.invoke(cli, [str(tmp_path)])
    assert files_without_tenant.exit_code == 2 and "--tenant" in files_without_tenant.output
    lexical = runner.invoke(cli, ["--reindex"])
    assert lexical.exit_code == 2 and "no embedding model" in lexical.output
