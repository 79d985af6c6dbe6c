"""The benchmark suite (`pytest bench/`): the benchmarks (test_*.py) and their fixtures (conftest.py) here, and the
rooms they use, each a subpackage with one job (docs/architecture.md):

    judge/    every judgement, pure          store/    contract, baselines, ingest, bands
    timing/   timing processes, A/B          history/  nights, change points, bisection
    tune/     the fastest variant            launch/   distributed workers
    report/   markdown and charts            session/  one pytest session, start to end
    gpu/      the GPU check (run by path)

The other files here keep the commands' old names: `python -m bench.ab`, `bench.sensitivity`, `bench.bands`,
`bench.ingest`, `bench.replay`, `python bench/gpu_check.py`.
"""
