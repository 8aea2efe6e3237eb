"""CSV errors name the line of the file, blank lines and quoted line breaks counted."""

from __future__ import annotations

import pytest

from seqkit.data.seriesfile import read_csv
from seqkit.errors import SeqkitError


@pytest.mark.parametrize("text, line", [
    ("date,a\n2020-01-01,1\n\n\n2020-01-02,x\n", 5),  # two blank lines before the bad row
    ("date,a\n\n2020-01-01,1\n   \n2020-01-02,x\n", 5),  # blank and whitespace-only lines
    ('date,a\n2020-01-01,"1"\n2020-01-02,"x\ny"\n2020-01-03,x\n', 3),  # the first bad value, quoted over two lines
    ("date,a\r\n2020-01-01,1\r\n\r\n2020-01-02,x\r\n", 4),
])
def test_a_bad_value_is_named_by_its_line_of_the_file(tmp_path, text, line):
    path = tmp_path / "gaps.csv"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(SeqkitError, match=rf"gaps.csv: line {line}, column a: "):
        read_csv(path)


def test_an_unsorted_date_after_a_blank_line_names_both_lines(tmp_path):
    path = tmp_path / "order.csv"
    path.write_text("date,a\n2020-01-02,1\n\n2020-01-01,2\n", encoding="utf-8")
    with pytest.raises(SeqkitError, match=r"line 4, column date: '2020-01-01' is earlier than line 2 "):
        read_csv(path)
