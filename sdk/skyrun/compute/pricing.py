"""What jobs cost on AWS: a rate table and the arithmetic of each compute target.

Rates are AWS's published on-demand prices for Linux/x86, in US dollars, as listed on
the pricing pages below on the date below. They change rarely but they do change, and
they differ by region: a region missing from the table is priced at ``us-east-1``'s
rates and the estimate says so. Fargate Spot (cheaper) and the free tier are not
modelled: the figure is what the same run costs on demand.

Sources (the rates as listed there in 2024; update ``RATES_DATE`` with the table):

* AWS Fargate pricing, https://aws.amazon.com/fargate/pricing/ — per vCPU-hour and per
  GB-hour, billed per second with a one-minute minimum per task;
* AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/ — per GB-second of
  duration (first tier) and per request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

RATES_SOURCE = ("AWS Fargate pricing (aws.amazon.com/fargate/pricing) and AWS Lambda "
                "pricing (aws.amazon.com/lambda/pricing), Linux/x86 on demand")
RATES_DATE = "2024"
#: Fargate: (USD per vCPU-hour, USD per GB-hour).
FARGATE_RATES = {
    "us-east-1": (0.04048, 0.004445),
    "us-east-2": (0.04048, 0.004445),
    "us-west-2": (0.04048, 0.004445),
}
#: Lambda: (USD per GB-second, USD per request).
LAMBDA_RATES = {
    "us-east-1": (0.0000166667, 0.0000002),
    "us-east-2": (0.0000166667, 0.0000002),
    "us-west-2": (0.0000166667, 0.0000002),
}
DEFAULT_REGION = "us-east-1"
#: Fargate bills each task for at least this long.
FARGATE_MINIMUM_SECONDS = 60.0
COMPUTE_TARGETS = ("fargate", "lambda")


@dataclass(frozen=True)
class Cost:
    """An estimated cost in US dollars and how it was reached."""

    usd: float
    compute_target: str
    region: str
    #: The region whose rates were used (``us-east-1`` for a region not in the table).
    rates_region: str
    #: The vCPU- and GB-seconds billed (after Fargate's per-task minimum).
    billed_vcpu_seconds: float
    billed_gb_seconds: float
    requests: int
    rates_source: str = RATES_SOURCE
    rates_date: str = RATES_DATE

    def to_dict(self) -> dict:
        """The fields as a dict."""
        return asdict(self)


def price(compute_target: str, region: str | None, cpus: float, memory_mb: float,
          runtime_seconds: float, jobs: int, tasks: int | None = None) -> Cost:
    """The on-demand cost of ``jobs`` jobs that ran ``runtime_seconds`` in all, each with
    ``cpus`` vCPUs and ``memory_mb`` MB.

    ``fargate``: vCPU-seconds and GB-seconds of the worker tasks, each task billed at
    least one minute: the runtimes are spread over ``tasks`` tasks (default: one per
    job), so the billed time is at least ``tasks`` minutes. ``lambda``: GB-seconds of
    the invocations (one per job) plus the per-request price; Lambda sizes CPU by
    memory, so ``cpus`` is not billed.
    """
    if compute_target not in COMPUTE_TARGETS:
        raise ValueError(f"compute_target {compute_target!r} is not priced; allowed: "
                         + ", ".join(COMPUTE_TARGETS))
    region = region or DEFAULT_REGION
    table = FARGATE_RATES if compute_target == "fargate" else LAMBDA_RATES
    rates_region = region if region in table else DEFAULT_REGION
    gb = memory_mb / 1024.0
    if compute_target == "fargate":
        per_vcpu_hour, per_gb_hour = table[rates_region]
        tasks = jobs if tasks is None else tasks
        seconds = max(runtime_seconds, FARGATE_MINIMUM_SECONDS * tasks)
        usd = seconds * (cpus * per_vcpu_hour + gb * per_gb_hour) / 3600.0
        return Cost(usd, compute_target, region, rates_region, cpus * seconds, gb * seconds, 0)
    per_gb_second, per_request = table[rates_region]
    usd = gb * runtime_seconds * per_gb_second + jobs * per_request
    return Cost(usd, compute_target, region, rates_region, 0.0, gb * runtime_seconds, jobs)
