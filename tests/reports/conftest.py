from __future__ import annotations

from tests.crowd.conftest import crowd  # noqa: F401  (the crowd world)
from tests.studio.conftest import embedding_cache, studio_settings  # noqa: F401  (real-pool fixtures)
