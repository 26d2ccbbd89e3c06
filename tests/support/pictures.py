"""Small text pictures of binary masks and dependency patterns for failure messages."""

LEGEND = ("legend: 1 allowed / connected, . forbidden / absent, "
          "X present but must be absent, ! absent but must be present")


def _cell(expected, actual):
    if expected and actual:
        return "1"
    if not expected and not actual:
        return "."
    return "X" if actual else "!"


def grid(expected, actual=None, row_label="row", col_label="col", limit=24):
    """Draw ``expected`` (and where ``actual`` differs, the difference) as a text grid.

    Both are 2-D boolean-like nested sequences or tensors. Rows/columns beyond ``limit`` are
    cut, keeping the first offending entry in view.
    """
    exp = [[bool(v) for v in row] for row in _rows(expected)]
    act = exp if actual is None else [[bool(v) for v in row] for row in _rows(actual)]
    n_rows, n_cols = len(exp), len(exp[0]) if exp else 0
    r0 = c0 = 0
    bad = [(r, c) for r in range(n_rows) for c in range(n_cols) if exp[r][c] != act[r][c]]
    if bad and n_rows > limit:
        r0 = max(0, min(bad[0][0] - limit // 2, n_rows - limit))
    if bad and n_cols > limit:
        c0 = max(0, min(bad[0][1] - limit // 2, n_cols - limit))
    rows = range(r0, min(n_rows, r0 + limit))
    cols = range(c0, min(n_cols, c0 + limit))
    width = max(2, len(str(max(cols, default=0))) + 1)
    corner = f"{row_label}\\{col_label}"
    label_width = max(8, len(corner) + 1)
    lines = [corner.ljust(label_width) + "".join(str(c).rjust(width) for c in cols)]
    for r in rows:
        lines.append(str(r).ljust(label_width) + "".join(_cell(exp[r][c], act[r][c]).rjust(width) for c in cols))
    if n_rows > limit or n_cols > limit:
        lines.append(f"(showing rows {rows.start}-{rows.stop - 1} and columns {cols.start}-{cols.stop - 1} "
                     f"of {n_rows}x{n_cols})")
    return "\n".join(lines)


def _rows(matrix):
    if hasattr(matrix, "tolist"):
        matrix = matrix.tolist()
    return matrix


def side_by_side(expected, actual, title_expected="expected", title_actual="yours (marked)",
                 row_label="row", col_label="col"):
    """Two grids next to each other: the expected mask and the student's, with differences marked."""
    left = grid(expected, row_label=row_label, col_label=col_label).splitlines()
    right = grid(expected, actual, row_label=row_label, col_label=col_label).splitlines()
    width = max(len(line) for line in left) + 4
    out = [title_expected.ljust(width) + title_actual]
    out += [a.ljust(width) + b for a, b in zip(left, right)]
    return "\n".join(out) + "\n" + LEGEND
