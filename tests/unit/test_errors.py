"""One error base: every error the core expects is a CuratorError, which the command line reports
as one line, exit status 1."""

from __future__ import annotations

import pytest

from curator import cli
from curator.core.data.cases import DatasetError
from curator.core.engine.training_data import TrainError
from curator.core.errors import CuratorError
from curator.core.io.types import ReadError, TooLargeError
from curator.core.project.export import ExportError
from curator.core.project.folder import DatasetMissingError, ProjectError
from curator.core.project.pipeline import PipelineError
from curator.core.curation.decisions import DecisionError
from curator.core.project.store import LockedError, StoreError
from curator.lab.corrupt import CorruptError


@pytest.mark.parametrize("cls", [ReadError, TooLargeError, DatasetError, TrainError, PipelineError, ProjectError,
                                 DatasetMissingError, StoreError, LockedError, ExportError, DecisionError,
                                 CorruptError, cli.CliError])
def test_every_expected_error_is_a_curator_error(cls):
    assert issubclass(cls, CuratorError)


def test_the_command_line_reports_a_core_error_in_one_line(tmp_path, capsys):
    rc = cli.main(["export", str(tmp_path / "no-such-project"), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("curator export: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "unexpected" not in err
