"""`smolthink distill`: ask a teacher, keep only the answers a verifier accepts, in the conversation schema.

Read it in this order, one concern per module:

    recipe.py    the recipe dataclasses (teacher, prompts, keep), load_recipe, what identifies a run
    prompts.py   prompt sources: reasoning-gym, synthetic-tools, search-grounded questions, a local file
    teacher.py   the teachers: an OpenAI-compatible server (async httpx, retries, circuit) or an in-process model
    verify.py    the verifiers, the checks every sample gets, and keep: first / all / best
    run.py       the run: resume, line-by-line output, progress, summary; `load_distilled` for `data build`
"""

from smolthink.distill.recipe import DistillError, DistillRecipe, load_recipe
from smolthink.distill.run import distill, load_distilled, summary_table

__all__ = ["DistillError", "DistillRecipe", "distill", "load_distilled", "load_recipe", "summary_table"]
