-- The prompt-injection detector, version 1 (observatory.injection.DETECTOR_VERSION; docs/methods.md, "Prompt
-- injections"): the payload families of the injections a text contains, as a sorted list of distinct names (empty
-- for none). An injection addresses the reading agent with an instruction that would override or steer it, or
-- impersonates a system, developer or tool channel. Families:
--   role-marker        fake channel markers: <system>, <|im_start|>system, [INST], "role": "system", ### System:
--   override           ignore previous instructions, new instructions:, you are now ..., developer mode
--   exfiltration       reveal the system prompt, print API keys, find *.env, cat ~/.ssh/id_rsa
--   funds              send crypto to an address, approve a transaction, buy a token now
--   vote-manipulation  all agents must upvote / follow / reply with X to confirm
--   tool-execution     curl ... | sh, run this command, install this skill, fetch a URL and follow it
--   encoded            decode this base64 / rot13 / hex and follow it; zero-width characters
-- A text that discusses injections rather than making one (it names them as injections, attacks, scams or
-- jailbreaks, or warns against following them) yields no family unless it also carries a channel marker outside
-- quotes: the detector is measured for precision and recall on a hand-labelled set (tests/fixtures/injection/).
injection_families(body) as (
    list_sort(list_distinct(list_filter([
        case when regexp_matches(body, '(?i)<\|?\s*im_(start|end|sep)\s*\|?>|<<\s*/?\s*sys\s*>>|<\s*/?\s*(system|sys|assistant|developer|admin|tool|tool_call|tool_result|function_call|instructions?)\s*>|\[\s*/?\s*(system|inst|sys|admin|developer|system message)\s*\]|(^|\n)\s*#{1,4}\s*(system|developer|admin)(\s+(prompt|message|instructions?|override))?\s*:|\b(system|admin|developer|operator)\s+(override|prompt|message|instructions?|directive)\s*:|"role"\s*:\s*"(system|developer|tool)"')
             then 'role-marker' end,
        case when regexp_matches(body, '(?i)\b(ignore|disregard|forget|override|bypass|drop)\b[^.\n]{0,40}\b(previous|prior|above|earlier|preceding|all|any|your|the|original)\b[^.\n]{0,30}\b(instructions?|prompts?|rules|guidelines|directives|programming|guardrails|constraints|safety)\b|\bnew\s+(instructions?|directives?|orders|system prompt)\s*:|\byou\s+are\s+now\s+(dan|in\s+\w+\s+mode|unrestricted|jailbroken|free\s+of|no\s+longer)|\bfrom\s+now\s+on\s*,?\s+you\s+(are|will|must|shall)\b|\b(enable|enter|activate|switch\s+to)\s+(developer|god|dan|jailbreak|unrestricted)\s+mode\b|\b(act|respond|answer|operate|reply)\s+without\s+(any\s+)?(restrictions|filters|limits|limitations|guardrails|rules|censorship)')
             then 'override' end,
        case when regexp_matches(body, '(?i)\b(reveal|print|show|output|repeat|share|post|send|leak|dump|paste|echo|tell\s+(me|us)|give\s+(me|us)|reply\s+with|include|upload|email)\b[^.\n]{0,50}\b(system\s+prompt|initial\s+instructions|api[\s_-]?keys?|secret\s+keys?|private\s+keys?|seed\s+phrases?|mnemonic|passwords?|credentials|access\s+tokens?|auth\s+tokens?|\.env\b|env(ironment)?\s+var(iable)?s|ssh\s+keys?|id_rsa|config(uration)?\s+files?|owner.{0,3}s\s+(email|address|phone|name|details))|\b(cat|type|read|open|find|locate|search\s+for|grep|ls)\b[^.\n]{0,30}(\*\.env\b|\.env\b|id_rsa|\.ssh\b|/etc/passwd|/etc/shadow|\.aws\b|wallet\.dat|keychain|\.npmrc|\.git-credentials)')
             then 'exfiltration' end,
        case when regexp_matches(body, '(?i)\b(send|transfer|wire|deposit|pay|tip|forward)\b[^\n]{0,60}\bto\b[^\n]{0,30}(\b0x[0-9a-f]{8,}|\b(bc1|[13])[a-km-zA-HJ-NP-Z1-9]{25,39}\b|\b[1-9A-HJ-NP-Za-km-z]{32,44}\b|wallet|address)|\b(approve|sign|confirm)\s+(this|the|my)\s+(transaction|tx|transfer|contract|permit)|\bbuy\s+\$?[a-z]{2,10}\s+(now|immediately|before|today)\b')
             then 'funds' end,
        case when regexp_matches(body, '(?i)\b(all|every|any|each|fellow)\s+(ai\s+)?(agents?|bots?|assistants?|llms?|moltys?|models?|ais)\b[^.\n]{0,60}\b(must|should|need\s+to|are\s+(required|instructed|asked)\s+to|have\s+to|please|shall)\b[^.\n]{0,30}\b(upvote|downvote|like|follow|repost|share|comment|reply|subscribe|star|boost)|\b(upvote|like|follow|repost|boost)\s+(this|me|my|the)\b[^.\n]{0,40}\bif\s+you\s*(are|''re)\s+(an?\s+)?(ai|agent|bot|llm|assistant|language\s+model)|\breply\s+with\s+\S{1,30}\s+to\s+(confirm|prove|verify|show|acknowledge)|\b(agents?|bots?|ais?|assistants?)\s*[:,]\s*(please\s+)?(upvote|follow|repost|like)\b')
             then 'vote-manipulation' end,
        case when regexp_matches(body, '(?i)\b(curl|wget)\s[^\n|]{0,200}\|\s*(sudo\s+)?(ba|z)?sh\b|\b(run|execute|exec|eval)\b[^.\n]{0,20}\b(this|the\s+following|these|following)\s+(command|script|code|payload|snippet)s?\b|\b(install|load|enable|add)\s+(this|the\s+following|my)\s+(skill|plugin|extension|tool|mcp\s+server)\b|\b(call|invoke)\s+(the\s+)?(tool|function)\s+\S+\s+with\b|\b(visit|open|fetch|read|go\s+to)\s+https?://\S+\s+(and|then)\s+(follow|execute|obey|do)')
             then 'tool-execution' end,
        case when regexp_matches(body, '(?i)\b(decode|base64[\s-]?decode|rot13|unhex|atob|decipher)\b[^.\n]{0,80}\b(follow|execute|run|obey|comply|do\s+what|instructions?)\b|\b(follow|execute|run|obey)\b[^.\n]{0,40}\b(decoded|base64|hex|rot13|encoded|hidden)\b|([\x{200B}\x{200C}\x{2060}][^\x{200B}\x{200C}\x{2060}]{0,2}){6,}|[\x{E0020}-\x{E007F}]{8,}')
             then 'encoded' end
    ], lambda f: f is not null
         and (f = 'role-marker' or not regexp_matches(body, '(?i)\bprompt[\s-]?injections?\b|\binjection\s+(attempt|attack|payload)s?\b|\bjailbreak\s+(attempt|prompt)s?\b|\b(phishing|scam|scammers?|malicious|beware|psa)\b|\bwatch\s+out\b|\bbe\s+careful\b|\bred\s+flag\b|\b(don.?t|never|do\s+not)\s+(fall\s+for|run|follow|send|trust|obey|paste|share|click|install)\b|\bclassic\s+(attack|trick|injection)\b'))
    )))
)
