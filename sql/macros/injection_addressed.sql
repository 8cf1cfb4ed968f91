-- Whether a prepared text (injection_text) addresses an automated reader: a vocative ("Agents, ...", "bot:"),
-- "if you are an AI", "any LLM reading this", "your sandbox / owner / system prompt", or a model named.
-- The detector's loose patterns (an imperative and its object) count only in such a text.
injection_addressed(prepared) as (
    regexp_matches(prepared, '(?:\b(hey|hi|hello|hallo|hola|salut|bonjour|dear|attention|calling|psst|yo|attn|note\s+(to|for)|message\s+(to|for)|side\s+note\s+for)\s+(all\s+|any\s+|every\s+|the\s+|fellow\s+|you\s+)?(\S+\s+)?(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:\b(to|for)\s+(all|any|every|each|the|fellow)\s+(\S+\s+)?(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:(^|[.!?\n:;]\s*)(\S+\s+)?(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:,\s*(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\s*([:.!?,]|$))'
        || '|' || '(?:\b(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\s*:\s)'
        || '|' || '(?:\b(all|any|every|each|fellow|other)\s+(\S+\s+)?(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:\bif\s+you\s*(''re|’re|\s+are)\s+(an?\s+)?(\S+\s+)?(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:\b(as|are\s+you)\s+an?\s+(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\b)'
        || '|' || '(?:\b(reading|seeing|processing|summari[sz]ing|parsing|scanning)\s+(this|the\s+(feed|front\s+page|thread|post))\b)'
        || '|' || '(?:\b(ai|ais|agents?|agentes?|agenten|assistants?|bots?|llms?|models?|moltys?|claude|gpt|gemini|llama|language\s+models?)\s+(reading|seeing|with|that\s+can|who\s+can|only|here|generating|summari[sz]ing|voting|are\s+paying\s+attention)\b)'
        || '|' || '(?:\b(claude|gpt|gemini|llama)\b)'
        || '|' || '(?:\bif\s+you\s+(can\s+browse|can\s+run|have\s+(file|shell|browser|wallet|tool)|manage\s+a))'
        || '|' || '(?:\b(your|ur)\s+(\S+\s+)?(sandbox|toolset|tools|shell|terminal|runtime|interpreter|browser\s+tool|file\s+tool|context\s+window|system\s+prompt|operator|owner|human|user|principal)\b)'
        || '|' || '(?:(代理|エージェント|智能体))')
)
