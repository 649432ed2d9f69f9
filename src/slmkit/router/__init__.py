"""Router and cascade: every request to the cheapest tier that answers it well.

settings    tiers, prices and strategy in the one settings file
tiers       a local llama.cpp tier or an OpenAI-compatible endpoint, with cost estimates
semantic    named routes by example utterances, thresholds fitted per route
learned     "does this query need the large tier?" from recorded outcomes
calibration thresholds for a target large-tier share or quality (`slmkit route calibrate`)
router      the runtime: decide, answer, fall back, record the Decision
outcomes    both local tiers on MMLU, the table routers are trained and judged on
evaluate    quality against large-tier share, APGR, thresholds fitted on training rows
"""
