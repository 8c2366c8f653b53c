"""Run the "poisson" experiment with config overrides and print its error table.

Usage: python docs/examples/poisson_run.py OUT_DIR '{"steps": 1000, "problems": [["periodic", 32]]}' [quick|full]
Writes OUT_DIR/results.json (the Result) and the figures into OUT_DIR.
"""

import json
import sys
from pathlib import Path

from equigen.experiments import get
from equigen.experiments.poisson import PoissonConfig

out = Path(sys.argv[1])
overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
base = PoissonConfig.full() if len(sys.argv) > 3 and sys.argv[3] == "full" else PoissonConfig.quick()
for key, value in overrides.items():
    if not hasattr(base, key):
        raise SystemExit(f"unknown config field {key!r}")
    setattr(base, key, value)
result = get("poisson").run(base, seed=0, out_dir=out)
(out / "results.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
for row in result.tables["error table (variant x sampler x steps)"]:
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}))
print(json.dumps(result.timings))
