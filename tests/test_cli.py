"""The small commands: blocks, ls, cp, --help."""

from __future__ import annotations

from pathlib import Path

from seqkit.blocks import BACKENDS, FRONTENDS, HEADS

ROOT = Path(__file__).resolve().parent.parent


def test_blocks_lists_every_block_with_arguments(cli):
    result = cli("blocks")
    assert result.code == 0
    for name in [*FRONTENDS, *BACKENDS, *HEADS]:
        assert f"  {name} " in result.out
    assert "seg_len = 24" in result.out and "decoding = 'pmf'" in result.out
    assert "in_dim" not in result.out  # derived, never set in a config


def test_ls_lists_the_bundled_recipes(cli):
    result = cli("ls")
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()] == ["asr", "kws", "lm", "ltsf"]


def test_cp_copies_a_recipe_and_never_overwrites(cli, tmp_path):
    dest = tmp_path / "my_ltsf"
    assert cli("cp", "ltsf", dest).code == 0
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.yaml", "recipe.py"]
    (dest / "config.yaml").write_text("mine\n")
    result = cli("cp", "ltsf", dest)
    assert result.code == 2 and "already exists" in result.err
    assert (dest / "config.yaml").read_text() == "mine\n"


def test_unknown_recipe_and_help(cli):
    result = cli("run", "ltfs")
    assert result.code == 2 and "did you mean ltsf" in result.err
    result = cli("--help")
    assert result.code == 0 and "predict" in result.out and "blocks" in result.out
