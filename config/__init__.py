"""Project configuration: settings, URLs, ASGI/WSGI entry points, the Celery app.

Every process of the project (``manage.py``, the ASGI server, Celery workers) loads this
package before torch or faiss, so this is where OpenMP is told how to wait: by default
its idle worker threads spin, and on a busy 2-core machine a 2-thread torch scoring pass
ran 4x slower than one thread because the spinners held the cores other processes needed
(benchmarks/al_scale.py). Passive waiting gave full 2-thread speed. An explicit
``OMP_WAIT_POLICY`` in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
