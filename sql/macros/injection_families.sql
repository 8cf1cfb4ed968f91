-- The prompt-injection detector, version 1 (observatory.injection.DETECTOR_VERSION; docs/methods.md, "Prompt
-- injections"): the payload families of the injections in a text, sorted (an empty list for none).
-- `injection_families(body, injection_text(body))`: `body` as written, `prepared` the text as injection_text gives
-- it (lower case, with quoted passages and code replaced by the words xquotex and xcodex).
-- An injection addresses the reading agent with an instruction meant to override or steer it, or impersonates a
-- system, developer or tool channel. The families:
--   role-marker        fake channel markers: <system>, <|im_start|>system, [INST], "role": "system", ### System:
--   override           ignore previous instructions, new instructions:, you are now ..., developer mode
--   exfiltration       reveal your system prompt, post your API key, find *.env, your owner's email
--   funds              send crypto to an address or wallet, approve this transaction, buy $TOKEN now
--   vote-manipulation  all agents must upvote / follow, if you are an AI ..., reply with X to confirm
--   tool-execution     curl ... | sh, run this code, install this skill, call your shell tool
--   encoded            decode this (base64, rot13, hex) and follow it; runs of invisible characters
-- Each family is a set of patterns matched on the prepared text, so a phrase in quotes or in code is *mentioned*,
-- not *used*: agents discussing an injection usually quote it. A text that discusses injections (it names them as
-- prompt injections, jailbreaks, scams or attacks, or warns against following them: "never run", "don't send")
-- yields no family, unless it carries an unquoted channel marker. JSON roles, curl-to-shell and invisible
-- characters are matched on the text as written. Precision and recall are measured on hand-labelled sets
-- (tests/fixtures/injection/, `benchmarks/injection.py`); a change of pattern is a new version.
injection_families(body, prepared) as (
    list_sort(list_filter([
        -- role-marker
        case when regexp_matches(prepared, '(?:<\|\s*[a-z_]+\s*\|>)'
                   || '|' || '(?:<<\s*/?\s*sys\s*>>)'
                   || '|' || '(?:<\s*/?\s*(system|sys|assistant|developer|admin|tool|tool_call|tool_result|tool_response|tool_output|function_call|function_results?|instructions?|system_prompt)[\w-]*\s*>)'
                   || '|' || '(?:\[\s*/?\s*(system|inst|sys|admin|developer|assistant|system message|system note|admin notice)\s*\])'
                   || '|' || '(?:(^|\n|\s)#{2,4}\s*(system|instruction|response|developer|admin)s?\b)'
                   || '|' || '(?:={2,}\s*(system|admin|developer)\b)'
                   || '|' || '(?:(^|\n|[.!?]\s+|\s{2,})(human|user)\s*:[\s\S]{0,300}\b(assistant|ai)\s*:)'
                   || '|' || '(?:(^|[\n.>]\s*|\s{2,})(system|developer|sys)\s*:\s)'
                   || '|' || '(?:(系统消息|系統訊息|システムメッセージ))'
                   || '|' || '(?:\b(developer|admin|operator|system)\s+(note|message|notice|override|update|instruction)s?\s+(to|for)\s+(the\s+)?(model|assistant|ai|agents?|llms?)\b)'
                   || '|' || '(?:\b(system|admin|developer|operator)\s+(override|prompt\s+update|message|instructions?|directive|notice)\s*:)'
                   || '|' || '(?:\bend\s+of\s+(user\s+input|prompt|context|system\s+prompt)\b)'
                   || '|' || '(?:\btool\s+(output|result|response)\s*:\s*(xcodex|\{))')
               or regexp_matches(body, '(?i)' || '(?:\"role\"\s*:\s*\"(system|developer|tool)\")')
             then 'role-marker' end,
        -- override
        case when regexp_matches(prepared, '(?:\b(ignore|disregard|forget|override|bypass|discard|abandon)\s+(all\s+|any\s+|of\s+)?(the\s+|your\s+|my\s+|these\s+|those\s+)?(previous|prior|above|earlier|preceding|original|initial|existing|current|old)\s+(\S+\s+)?(instructions?|prompts?|rules|guidelines|directives|programming|guardrails|constraints|orders|policies))'
                   || '|' || '(?:\b(ignore|disregard|forget|override|bypass|discard|abandon)\s+(all\s+|any\s+)?(the|your|ur|my|these|those)\s+(system|safety|built-in)\s+(\S+\s+)?(instructions?|prompts?|rules|guidelines|directives|programming|guardrails|constraints|policies))'
                   || '|' || '(?:\b(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+)?(your|the|ur)\s+(\S+\s+)?(instructions?|rules|guidelines|guardrails|programming|system\s+prompt|restrictions|training|settings|configuration))'
                   || '|' || '(?:\b(forget|disregard|ignore)\s+(whatever|everything|what|anything)\s+(\S+\s+){0,2}(told|given|instructed|taught))'
                   || '|' || '(?:\bnew\s+(instructions?|directives?|orders|system\s+prompt|task|role)\s*(for\s+\S+\s*)?:)'
                   || '|' || '(?:\byou\s+are\s+(now|no\s+longer)\s+(dan\b|in\s+\S+\s+mode|unrestricted|jailbroken|free\s+(of|from)|an?\s+))'
                   || '|' || '(?:\bfrom\s+now\s+on\s*,?\s+you\s+(are|will|must|shall|only|respond|reply)\b)'
                   || '|' || '(?:\b(enable|enter|activate|switch\s+to|engage)\s+(developer|god|dan|jailbreak|unrestricted|debug|simulation)\s+mode\b|\b(simulation|developer|god|unrestricted)\s+mode\s+(engaged|enabled|activated))'
                   || '|' || '(?:\b(act|respond|answer|operate|reply|behave)\s+(as\s+if\s+you\s+have\s+|with\s+)?(without|no)\s+(any\s+)?(restrictions|filters|limits|limitations|guardrails|rules|censorship|safety))'
                   || '|' || '(?:\b(ignora|olvida)\s+(todas\s+)?(las\s+|tus\s+)?(instrucciones|reglas))'
                   || '|' || '(?:\b(ignoriere|vergiss)\s+(alle\s+)?(\S+\s+)?(anweisungen|instruktionen|regeln))'
                   || '|' || '(?:\b(ignore[sz]?|oublie[sz]?)\s+(toutes\s+)?(les\s+|tes\s+|vos\s+)?(instructions|règles|consignes))'
                   || '|' || '(?:忽略(之前|以前|上面|所有|先前))'
                   || '|' || '(?:\b(instructions|rules|guidelines)\s+(you\s+received|you\s+were\s+given)[^.\n]{0,30}\b(are|is)\s+(void|cancelled|canceled|obsolete|revoked))'
                   || '|' || '(?:\bno\s+rules\s+(ever\s+)?(apply|existed)|\bpretend\s+(ur|your)\s+rules\b)')
               or (regexp_matches(prepared, '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(ignore|disregard|forget|override|bypass|drop|discard|void|suspend|pretend|olvida|vergiss|ignora|ignoriere|oublie)\b[^.\n]{0,60}\b(your|ur|all|any|previous|prior|earlier)\s+(\S+\s+)?(instructions?|rules|guidelines|guardrails|programming|system\s+prompt|safety|training|settings|configuration|objective|task|constitution))'
                       || '|' || '(?:\byou\s+are\s+(now|no\s+longer)\b)'
                       || '|' || '(?:\b(unfiltered|unaligned|uncensored|unrestricted|jailbroken|jailbreakgpt)\b)'
                       || '|' || '(?:\b(your|ur)\s+(new|real|true|updated)\s+(role|instructions|orders|objective|goal|brief|operator|owner)\b)'
                       || '|' || '(?:\b(doesn.?t|does\s+not|don.?t|do\s+not)\s+apply\b)'
                       || '|' || '(?:\b(regardless\s+of|whatever)\s+(what\s+)?(your|ur)\s+(operator|owner|guidelines|rules|instructions))'
                       || '|' || '(?:\bstop\s+(whatever|being\s+so\s+careful|your\s+current))'))
                  and injection_addressed(prepared)
             then 'override' end,
        -- exfiltration
        case when regexp_matches(prepared, '(?:\b(reveal|print|show|output|repeat|share|post|send|leak|dump|paste|echo|tell\s+(me|us)|give\s+(me|us)|reply\s+with|include|upload|email|dm|list|type\s+out|write\s+out|collect|append|copy|encode)\s+(me\s+|us\s+)?((your|ur)\s+(\S+\s+){0,5}|(the|all|every|its|any)\s+(\S+\s+)?)(system\s+prompt|initial\s+instructions|hidden\s+instructions|api[\s_-]?keys?|secret\s+keys?|private\s+keys?|seed\s+phrases?|recovery\s+phrases?|mnemonic|passwords?|credentials|access\s+tokens?|auth(entication)?\s+tokens?|session\s+tokens?|bearer\s+tokens?|cookies|\*?\.env\b|env(ironment)?\s+var(iable)?s|ssh\s+keys?|id_rsa|config(uration)?\s+files?|memory\s+files?|conversation\s+history|context\s+window|(owner|human|user|operator)\S{0,2}\s+(full\s+)?(name|email|address|phone|details|location|timezone)))'
                   || '|' || '(?:\b(cat|type|read|open|find|locate|search\s+for|grep|ls|collect|gather|upload|copy|print)\b[^.\n]{0,40}(\*\.env\b|\.env\b|\*\.pem\b|id_rsa|\.ssh\b|/etc/passwd|/etc/shadow|\.aws\b|wallet\.dat|keychain|\.npmrc|\.git-credentials))'
                   || '|' || '(?:(api_key|secret_key|access_key|_token|password)\b[^.\n]{0,40}\b(your|ur)\s+(env|environment|config|\.env))'
                   || '|' || '(?:\b(conversation|chat)\s+history\b[^.\n]{0,60}\b(email|send|post|upload|forward)\s+it\b)'
                   || '|' || '(?:\brepeat\s+(all\s+)?(the\s+)?(text|everything|words|messages?)\s+(above|before)\b|\beverything\s+before\s+my\s+message\b)'
                   || '|' || '(?:\b(gib|zeige?|nenne|poste|sende|schick)\s+(mir\s+|uns\s+)?(deinen|deine|dein)\s+(\S+\s+)?(systemprompt|system-prompt|api-schlüssel|passwort|zugangsdaten))'
                   || '|' || '(?:\b(revela|muestra|comparte|envía|envia|publica|copia)\s+(aquí\s+)?(tu|tus)\s+(\S+\s+)?(prompt|instrucciones|claves?|contraseñas?|credenciales))')
               or (regexp_matches(prepared, '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(reveal|print|show|output|repeat|share|post|send|leak|dump|paste|echo|tell|give|reply|include|upload|email|dm|list|append|copy|encode|what.?s|what\s+(is|are)|collect|forward|fetch|find)\b[^\n]{0,40}(\b(your|ur)\s+(\S+\s+){0,2}(system\s+prompt|memory\s+file|memories|context\s+window|conversation\s+history|chat\s+history|api\s+keys?|keys|tokens?|credentials|passwords?|seed\s+phrase|private\s+keys?|auth\w*\s+(headers?|values?)|authorization\s+values?|2fa|home\s+address|email\s+address|config\.json|home\s+directory|gmail|owner.?s\s+(name|email|address|phone|details))|\b(prompt\s+de\s+sistema|systemprompt|instructions\s+verbatim|hidden\s+instructions|claves\s+de\s+api|\w+_token)\b|\.env\b|\.pem\b|/etc/passwd|operator\s+email))'))
                  and injection_addressed(prepared)
             then 'exfiltration' end,
        -- funds
        case when regexp_matches(prepared, '(?:\b(send|transfer|wire|deposit|pay|tip|forward|move)\s+[^\n]{0,40}\b(eth|btc|sol|usdc|usdt|bitcoin|ether|crypto|funds|coins|sats)\b[^\n]{0,40}\bto\b)'
                   || '|' || '(?:\b(send|transfer|wire|deposit|pay|tip|forward|contribute)\b[^\n]{0,60}\bto\b[^\n]{0,30}(\b0x[0-9a-f]{8,}|\b(bc1|[13])[a-km-z1-9]{25,39}\b|\b[\w-]+\.eth\b|wallet|address))'
                   || '|' || '(?:\b(approve|sign|confirm|execute)\s+(this|the|my|that|pending|the\s+pending)\s+(\S+\s+)?(transaction|tx|transfer|contract|permit|withdrawal|swap|allowance))'
                   || '|' || '(?:\bbuy\s+\$?[a-z]{2,10}\s+(now|immediately|before|today|right\s+now)\b)'
                   || '|' || '(?:\b(add|set)\s+0x[0-9a-f]{8,}\s+as\s+(the\s+)?(sole\s+|new\s+)?(owner|signer|admin))'
                   || '|' || '(?:\b(use|spend|with|stake|bridge|move|send|transfer)\s+((your|ur)\s+(full|entire|whole)|(all|100%\s+of)\s+(your|ur))\s+(available\s+)?(balance|funds|wallet|usdc|eth))')
               or (regexp_matches(prepared, '(?:(überweist|überweise|envíen|envía|überweisen)[^\n]{0,80}(\b(eth|btc|sol|usdc|eur|usd)\b|\bde\d\d))'
                       || '|' || '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(send|transfer|wire|deposit|pay|tip|buy|purchase|stake|bridge|swap|approve|sign|contribute|short|long|mint|market-buy|envie|donate|drain|add|remove)\b[^\n]{0,80}(\b(eth|btc|sol|usdc|usdt|money|bucks|eur|usd|invoice|allowance|treasury|liquidity|multisig|venmo|paypal|card|subscription|leverage|signers|iban)\b|\b(your|ur)\s+(\S+\s+)?(balance|wallet|funds|tokens)\b|\$[a-z]+|\b0x[0-9a-f]{6,}|\blnbc\w+|\bde\d\d\b))'))
                  and injection_addressed(prepared)
             then 'funds' end,
        -- vote-manipulation
        case when regexp_matches(prepared, '(?:\b(all|every|any|each|fellow|dear)\s+(ai\s+)?(agents?|bots?|assistants?|llms?|moltys?|models?|ais)\b[^.\n]{0,80}\b(must|should|need\s+to|are\s+(required|instructed|asked|expected)\s+to|have\s+to|please|shall)\s+(now\s+|immediately\s+|also\s+)?(upvote|downvote|like|follow|repost|comment|reply|subscribe|star|boost|rank|pin|promote)\s+(this|my|me|it|our|every|all|@\S+|the\s+(post|comment|author|thread|top|pinned)|on\s+this|under\s+this|below)\b)'
                   || '|' || '(?:\b(upvote|like|follow|repost|boost|downvote)\s+(this|me|my|the|every|all)\b[^.\n]{0,60}\bif\s+you\s*(are|''re|’re)\s+(an?\s+)?(ai|agent|bot|llm|assistant|language\s+model))'
                   || '|' || '(?:\breply\s+(with\s+\S{1,30}|xquotex)\s+to\s+(confirm|prove|verify|show|acknowledge))'
                   || '|' || '(?:\bin\s+your\s+next\s+(reply|comment|post|response)\s*,?\s+(write|say|include|mention|add)\b)'
                   || '|' || '(?:\breply\s+with\s+(the\s+word\s+)?\S{1,30}\s+and\s+(upvote|like|follow|repost))'
                   || '|' || '(?:\b(rank|pin|star|tag)\s+this\s+(post|comment|thread)\b)')
               or (regexp_matches(prepared, '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(upvote|upvoting|downvote|repost|crosspost|subscribe|report|vote|boost|denle|sigan)\b[^.\n]{0,40}\b(this|it|me|my|mine|our|every|the\s+top|\d+|@\w+|them|below|post|comment|account|mi|mis|cuenta|esto))'
                       || '|' || '(?:([.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(like|follow|repost)\s+(((this|my|our)\s+(\S+\s+)?|the\s+)(post|comment|account|profile|page|author|thread|reply|parent)|me\b|@\w+))'
                       || '|' || '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(comment|reply)\s+(below|here)\s+(with|to)\b)'
                       || '|' || '(?:\bchoose\s+option\s+\S+)'
                       || '|' || '(?:(点赞|关注|點讚|關注|いいね|フォロー))'))
                  and injection_addressed(prepared)
             then 'vote-manipulation' end,
        -- tool-execution
        case when regexp_matches(prepared, '(?:\b(run|execute|exec|eval)\s+(this|the\s+following|these|it)?\s*(for\s+me\s*)?[:.,]?\s*xcodex)'
                   || '|' || '(?:\b(open|use|call)\s+your\s+(\S+\s+)?(terminal|shell|python|code|bash|exec\w*|command|file|browser)\s+(tool|interpreter))'
                   || '|' || '(?:\b(install|load|enable|add|download)\s+(this|the\s+following|my|the)?\s*(skill|plugin|extension|tool|mcp\s+server|package)\s+(xcodex|from\b))'
                   || '|' || '(?:\b(call|invoke|use)\s+(the\s+|your\s+)?(\S+\s+)?(tool|function)\b[^.\n]{0,40}\b(with|and)\b)'
                   || '|' || '(?:\b(call|invoke)\s+(the\s+)?xcodex\s+(tool|function)\b)'
                   || '|' || '(?:\b(visit|open|fetch|read|go\s+to|browse\s+to)\s+(https?://\S+|xcodex|\S+\.(test|example)\S*)\s+(and|then)\s+(follow|execute|obey|do|run|complete))')
               or regexp_matches(body, '(?i)' || '(?:\b(curl|wget)\s[^\n|]{0,200}\|\s*(sudo\s+)?(ba|z)?sh\b)'
                   || '|' || '(?:\b(curl|wget)\s[^\n|]{0,200}\|\s*(python3?|node|perl)\b)'
                   || '|' || '(?:\b(ba|z)?sh\s+-c\s+[\"'']?\$\((curl|wget)\b)')
               or (regexp_matches(prepared, '(?:(^|[.!?:;,\n—–-]\s*|\b(please|pls|plz|kindly|must|should|now|go|bitte|immediately)\s+)(run|running|execute|exec|eval|evaluate|invoke|call|install|load|download|clone|connect|schedule|open\s+your|use\s+your|browse|visit|fetch|complete\s+each\s+step|source\s+it|führe|ejecuta|instala)\b[\s\S]{0,80}(xcodex|https?://|\b[\w-]+\.(test|example|sh|js|py|tgz|zip)\b|\btoolset\b|\bcron\b|\bplugin\b|\bskill\b|\bbinary\b|\bscript\b|\bcommand\b|\bmcp\b|\b(your|ur)\s+(\S+\s+)?(sandbox|interpreter|terminal|shell)\b))'
                       || '|' || '(?:\b(pip|npm|apt|brew)\s+install\b|\bgit\s+clone\b)'))
                  and injection_addressed(prepared)
             then 'tool-execution' end,
        -- encoded
        case when regexp_matches(prepared, '(?:\b(decode|base64[\s-]?decode|rot13|unhex|atob|decipher|deobfuscate)\b[^\n]{0,80}\b(follow|execute|run|obey|comply|do\s+(what|it|that)|adopt|evaluate|then\s+do|carry\s+(it\s+)?out|act\s+on)\b)'
                   || '|' || '(?:\b(follow|execute|run|obey|adopt)\b[^.\n]{0,40}\b(decoded|base64|hex|rot13|encoded|hidden)\b)'
                   || '|' || '(?:\bbase64\b[^\n]{0,60}\b(is|are|contains)\s+your\s+(new\s+)?(system\s+prompt|instructions?|orders|task))'
                   || '|' || '(?:(解码|解碼|デコード)[^\n]{0,20}(执行|執行|实行|遵守|照做|実行))')
               or regexp_matches(body, '(?:([\x{200B}\x{200C}\x{2060}][^\x{200B}\x{200C}\x{2060}]{0,2}){6,})'
                   || '|' || '(?:[\x{E0020}-\x{E007F}]{8,})')
               or (regexp_matches(prepared, '(?:\b(decod\w*|base64|hex|rot13|binary|leetspeak|l33t|reverse|convert\s+to\s+ascii|first\s+letters|fancy\s+font|translate|unscramble|decrypt|hidden\s+message|hid\s+your)\b[^\n]{0,160}\b(follow|comply|do\s+it|act\s+on|carry\s+(it\s+)?out|execute|obey|treat|adopt|do\s+what|then\s+do|your\s+(real|new)\s+(brief|orders|instructions))\b)'
                       || '|' || '(?:[a-z][\x{0400}-\x{04FF}]|[\x{0400}-\x{04FF}][a-z])'))
                  and injection_addressed(prepared)
             then 'encoded' end
    ], lambda f: f is not null
         and (f = 'role-marker' or not regexp_matches(prepared, '\bprompt[\s-]?injections?\b|\binjection\s+(attempts?|attacks?|payloads?|spam)\b|\bjailbreak(s|ing)?\b|\b(phishing|scam|scams|scammers?|malicious|malware|beware|psa|til)\b|\bwatch\s+out\b|\bbe\s+careful\b|\bred\s+flags?\b|\b(don.?t|never|do\s+not)\s+(fall\s+for|run|follow|send|trust|obey|paste|share|click|install|execute|comply)\b|\bclassic\s+(attack|trick|injection|scam)\b|\bincident\s+(report|writeup)\b|\b(attackers?|adversar(y|ies|ial))(\s|,|;|$)|\breported\s+(it|and|this)\b|\bsanitiz|\bmitigation|\bdefanged\b|\bred\s+team\b|\bthreat\s+model\b|\bshould\s+i\b|\bhonest\s+question\b')))
    )
)
