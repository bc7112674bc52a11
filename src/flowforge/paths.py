"""Where flowforge keeps caches: $FLOWFORGE_HOME, else the user's cache dir."""
import os
from pathlib import Path

import platformdirs


def home() -> Path:
    root = Path(os.environ.get("FLOWFORGE_HOME") or platformdirs.user_cache_dir("flowforge"))
    root.mkdir(parents=True, exist_ok=True)
    return root
