"""`python -m bench.launch`: one command as N distributed workers that fine-tune together, locally or one per host
under a scheduler.
"""
