"""Command-line arguments, property-based: bad options, values and files fail in one line and change no run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import FEW, ROOT, digest, one_line_error, run_cli

OPTION = st.from_regex(r"--[a-z][a-z-]{0,10}", fullmatch=True).filter(
    lambda o: o not in {"--help", "--csv", "--out", "--beam", "--json", "--lm", "--lm-weight", "--config",
                        "--data-root", "--resume", "--prompt", "--length", "--temperature", "--top-k", "--seed"})


@FEW
@given(command=st.sampled_from(["run", "eval", "predict", "transcribe", "generate", "blocks", "ls", "cp", "new"]),
       option=OPTION)
def test_an_unknown_option_is_one_line_naming_it(ltsf_run, command, option):
    before = digest(ltsf_run)
    code, _, err = run_cli(command, ltsf_run, option)
    assert code == 2
    message = one_line_error(code, err, f"see seqkit {command} --help")
    assert option in message or "Missing" in message or "unexpected extra argument" in message
    assert digest(ltsf_run) == before


@FEW
@given(args=st.sampled_from([
    ["transcribe", "{run}", "a.wav", "--beam", "{word}"],
    ["generate", "{run}", "--length", "{word}"],
    ["generate", "{run}", "--top-k", "{word}"],
    ["generate", "{run}", "--temperature", "{word}"],
    ["transcribe", "{run}", "a.wav", "--lm-weight", "{word}"],
]), word=st.from_regex(r"[a-z][a-z]{0,8}", fullmatch=True))
def test_a_malformed_option_value_is_one_line_naming_the_option(ltsf_run, args, word):
    assume(word not in ("inf", "nan", "infinity"))  # numbers to a float option
    before = digest(ltsf_run)
    code, _, err = run_cli(*[a.format(run=ltsf_run, word=word) for a in args])
    message = one_line_error(code, err, "Invalid value for")
    assert args[-2] in message and code == 2
    assert digest(ltsf_run) == before


@FEW
@given(name=st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True))
def test_missing_files_are_named(ltsf_run, tiny_asr_run, name):
    before = digest(ltsf_run), digest(tiny_asr_run)
    with tempfile.TemporaryDirectory() as folder:
        missing = Path(folder) / name
        for args in (["eval", missing], ["predict", missing, "--csv", missing], ["generate", missing],
                     ["transcribe", missing, missing], ["predict", ltsf_run, "--csv", missing],
                     ["run", missing], ["run", ROOT / "recipes/ltsf", "-c", missing],
                     ["transcribe", tiny_asr_run, "--lm", missing, "--beam", "2", missing]):
            code, _, err = run_cli(*args)
            assert code == 2, (args, err)
            one_line_error(code, err, missing if args[0] != "run" or "-c" in args else name)
    assert (digest(ltsf_run), digest(tiny_asr_run)) == before


@FEW
@given(override=st.one_of(
    st.sampled_from(["data.seq_len=abc", "data.pred_lem=3", "model.backend.name=gur", "data.pred_len=",
                     "data.path=???", "data.path=${nowhere}", "trainer.max_epochs=2.5", "model.frontend.seg_len=-24",
                     "data.batch_size=0", "data.features=X", "data", "=3", "model=3", "trainer.max_epochs=0",
                     "trainer.max_epochs=-5"]),
    st.from_regex(r"[a-z]{1,6}\.[a-z_]{1,8}=[a-z0-9]{0,5}", fullmatch=True)),
    reuse=st.booleans())
def test_a_failing_run_changes_nothing_in_an_existing_run(ltsf_run, tmp_path_factory, override, reuse):
    before = digest(ltsf_run)
    fresh = tmp_path_factory.mktemp("fresh") / "run"
    run_dir = ltsf_run if reuse else fresh
    # The smallest real run first, then the override under test, which wins over it.
    smallest = ["trainer.limit_train_batches=1", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
    code, _, err = run_cli("run", ROOT / "recipes/ltsf", "-c", ROOT / "configs/debug.yaml", *smallest,
                          f"run_dir={run_dir}", override)
    if code == 0:  # a valid random override: it must not have reused the existing run
        assert not reuse
    else:
        one_line_error(code, err)
        assert code == 2 and not fresh.exists()
    assert digest(ltsf_run) == before
