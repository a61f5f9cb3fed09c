"""`fastlm demo --quick`: runs end to end without data files, reports tokenizer speed, the loss falls, a sample
is printed."""
import re

import pytest

pytest.importorskip("torch")

from fastlm.demo import main  # noqa: E402


def test_demo_quick_runs_and_loss_falls(capsys):
    # a fixed number of steps, not seconds: the loss criterion must not depend on the machine's load
    assert main(["--quick", "--steps", "40", "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "Python standard library" in out
    assert re.search(r"encode: [\d.]+ MB/s", out)
    m = re.search(r"loss ([\d.]+) -> ([\d.]+)", out)
    assert m, out
    first, last = float(m.group(1)), float(m.group(2))
    assert last < first - 0.5, (first, last)
    sample = out.split("== 3. sample ==")[1].strip()
    assert sample.startswith("def ") and len(sample) > 20


def test_demo_rejects_bad_options():
    with pytest.raises(SystemExit):
        main(["--seconds", "0"])
    with pytest.raises(SystemExit):
        main(["--steps", "0"])
