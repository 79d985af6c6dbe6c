"""The nightly's page (`python -m bench.history publish HISTORY [RESULT.json ...] --out SITE`): a static site of every
runner's history, their hardware side by side and the latest report, viewable from file:// with no network."""
