"""Where a Function's jobs run on AWS: Lambda or AWS Batch (``compute_target``).

One rule, written once and free of I/O, so that ``save()``, the launcher and the
build-finished handler all decide alike. A Function fits Lambda when its ``timeout`` is
at most 900 s and the memory Lambda must give it is at most 10,240 MB: Lambda sizes a
function by memory alone and gives one vCPU per 1,769 MB, so a Function's ``cpus`` need
``cpus × 1,769`` MB (6 vCPUs at 10,240 MB is Lambda's top). ``"auto"`` picks Lambda when
the Function fits, else Batch; ``"lambda"`` insists (a Function that does not fit is
refused); ``"batch"`` never uses Lambda. The embedded backend stores the attribute and
ignores it.
"""

from __future__ import annotations

import math
from typing import Any

AUTO, LAMBDA, BATCH = "auto", "lambda", "batch"
#: The values ``compute_target`` accepts.
TARGETS = (AUTO, LAMBDA, BATCH)
DEFAULT_TARGET = AUTO

#: Lambda's longest invocation, in seconds.
LAMBDA_MAX_TIMEOUT = 900
#: Lambda's largest memory size, in MB.
LAMBDA_MAX_MEMORY = 10_240
#: Lambda's smallest memory size, in MB.
LAMBDA_MIN_MEMORY = 128
#: Lambda gives one vCPU per this many MB of memory.
LAMBDA_MB_PER_VCPU = 1_769


def lambda_memory(cpus: float, memory: int) -> int:
    """The memory (MB) a Lambda function needs to give a job ``memory`` MB and ``cpus``
    vCPUs."""
    return max(int(memory), math.ceil(float(cpus) * LAMBDA_MB_PER_VCPU), LAMBDA_MIN_MEMORY)


def lambda_misfits(timeout: int, cpus: float, memory: int) -> dict[str, str]:
    """Why a Function of these settings does not fit Lambda: ``{field: reason}``, empty
    when it fits. Each reason names the value and Lambda's limit."""
    problems: dict[str, str] = {}
    if int(timeout) > LAMBDA_MAX_TIMEOUT:
        problems["timeout"] = (f"{int(timeout)} seconds is more than Lambda's limit of "
                               f"{LAMBDA_MAX_TIMEOUT} seconds")
    if int(memory) > LAMBDA_MAX_MEMORY:
        problems["memory"] = (f"{int(memory)} MB is more than Lambda's limit of "
                              f"{LAMBDA_MAX_MEMORY} MB")
    needed = math.ceil(float(cpus) * LAMBDA_MB_PER_VCPU)
    if needed > LAMBDA_MAX_MEMORY:
        problems["cpus"] = (f"{float(cpus):g} vCPUs need {needed} MB on Lambda (one vCPU per "
                            f"{LAMBDA_MB_PER_VCPU} MB), more than its limit of "
                            f"{LAMBDA_MAX_MEMORY} MB (at most "
                            f"{LAMBDA_MAX_MEMORY / LAMBDA_MB_PER_VCPU:.1f} vCPUs)")
    return problems


def fits_lambda(timeout: int, cpus: float, memory: int) -> bool:
    """Whether a Function of these settings can run on Lambda."""
    return not lambda_misfits(timeout, cpus, memory)


def choose(function: dict[str, Any]) -> str:
    """``"lambda"`` or ``"batch"``: where the jobs of a Function record run on AWS.

    A record without ``compute_target`` (saved before the attribute existed) is
    ``"auto"``. A ``"lambda"`` record that no longer fits (it cannot be saved so, but
    the rule never sends a job to a limit it would break) runs on Batch.
    """
    target = function.get("compute_target") or DEFAULT_TARGET
    if target == BATCH:
        return BATCH
    fits = fits_lambda(function["timeout"], function["cpus"], function["memory"])
    return LAMBDA if fits else BATCH


def check_target(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """Add the problems of ``values["compute_target"]`` (with the ``timeout``, ``cpus``
    and ``memory`` it goes with) to ``errors``, under ``compute_target``."""
    target = values.get("compute_target")
    if target not in TARGETS:
        errors.setdefault("compute_target", []).append(
            f"{target!r} is not an allowed value; allowed: " + ", ".join(TARGETS))
        return
    if target != LAMBDA:
        return
    try:
        problems = lambda_misfits(values["timeout"], values["cpus"], values["memory"])
    except (KeyError, TypeError, ValueError):
        return  # the settings themselves are wrong, and reported as such
    for field, reason in problems.items():
        errors.setdefault("compute_target", []).append(
            f"'lambda' does not fit this Function: {field}={reason}; use "
            f"compute_target='auto' or 'batch', or lower {field}")


def only_timeout_misfits(function: dict[str, Any]) -> bool:
    """Whether an ``"auto"`` Function goes to Batch for its ``timeout`` alone (the
    API's default of 3,600 s does that): the case worth a word to the user."""
    if (function.get("compute_target") or DEFAULT_TARGET) != AUTO:
        return False
    return set(lambda_misfits(function["timeout"], function["cpus"],
                              function["memory"])) == {"timeout"}


def save_message(function: dict[str, Any]) -> str:
    """The line ``save()`` logs on AWS: where the Function's jobs will run, and for a
    Function sent to Batch by its timeout alone, how to start in seconds instead."""
    target = choose(function)
    if target == LAMBDA:
        return (f"Function {function.get('name')}: jobs run on AWS Lambda "
                "(they start in seconds)")
    reasons = lambda_misfits(function["timeout"], function["cpus"], function["memory"])
    if (function.get("compute_target") or DEFAULT_TARGET) == BATCH:
        why = "compute_target='batch'"
    else:
        why = "; ".join(f"{k}={v}" for k, v in reasons.items())
    text = (f"Function {function.get('name')}: jobs run on AWS Batch (Fargate; a minute or "
            f"more to start) because {why}")
    if only_timeout_misfits(function):
        text += (f". Set timeout={LAMBDA_MAX_TIMEOUT} or less to run on Lambda and start in "
                 "seconds")
    return text
