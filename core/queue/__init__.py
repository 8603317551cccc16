"""The training queue and its workers: jobs as plain JSON (`jobs`), the SQLite queue pages submit to and workers claim
from (`queue`), the policy it is handed by the class (`policy`), the worker processes that train (`worker`), and the
same jobs on a Ray cluster (`cluster`, `ray_node`, `ray_folders`).

Knows nothing of the classroom: a class's rules reach it as a Policy. A new kind of job is a field of JobSpec that
`worker.run_job` acts on. May import: core.system, core.data, core.networks, core.formatting, core.storage,
core.training.
"""
