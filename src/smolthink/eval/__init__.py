"""The eval stage: does a fine-tune think and call tools better than the model it started from?

    bfcl        tool calling on BFCL v4 (bundled in the bfcl-eval wheel), scored by bfcl-eval's own AST checker
    reasoning   reasoning-gym tasks (their own scorers) and held-out synthetic-reasoning problems, in three groups:
                in-distribution, out-of-distribution, grade-school math
    compliance  think-format compliance and length statistics
    cases       what suites hand the runner, and the dev/test split (decide on dev, report test)
    runner      generation (cached, resumable) and scoring over suites
    stats       95 % intervals (Wilson, bootstrap), paired tests (exact McNemar, paired bootstrap), mean ± sd
    report      results.json, report.md, report.html with plots and side-by-side answers; several runs, a baseline
"""
