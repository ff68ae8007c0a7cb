"""What the worker and its executor child say to each other.

The worker sends one request per job over a pipe; the executor runs it and answers. The
executor's stdout and stderr share one pipe that the worker reads line by line; after each
job the executor writes END_MARK there, so the worker knows every line of the job has
arrived.
"""

END_MARK = b"\x00__skyrun_end_of_job__\n"
ENV_CONTROL_FDS = "SKYRUN_EXECUTOR_FDS"
# The worker's pid: an executor whose parent is already another process exits at once.
ENV_WORKER_PID = "SKYRUN_WORKER_PID"
