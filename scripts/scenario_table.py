"""Write the scenario table (benchmarks/scenarios.toml, from the committed reports) into benchmarks/README.md.

Usage: python scripts/scenario_table.py [--print]   (the table goes between <!-- scenarios:begin --> and end)
"""

import os
import re
import sys

from nnssl.benchmark.summary import scenario_table

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")

if __name__ == "__main__":
    table = scenario_table(os.path.join(BENCH, "scenarios.toml"), BENCH)
    if "--print" in sys.argv:
        print(table)
        sys.exit(0)
    path = os.path.join(BENCH, "README.md")
    text = open(path).read()
    new, n = re.subn(r"(<!-- scenarios:begin -->\n).*?(<!-- scenarios:end -->)", lambda m: m.group(1) + table
                     + m.group(2), text, flags=re.S)
    if n != 1:
        raise SystemExit(f"{path} lacks the scenarios markers")
    with open(path, "w") as f:
        f.write(new)
    print(table)
