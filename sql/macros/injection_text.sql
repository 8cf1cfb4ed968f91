-- A text prepared for the prompt-injection detector (injection_families): lower case, code fences and inline code
-- replaced by the word xcodex, passages in double quotes (straight or curly) and in single quotes that open after a
-- space or punctuation replaced by xquotex. What is quoted is mentioned, not addressed to the reader.
injection_text(body) as (
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(lower(coalesce(body, '')),
        '```[\s\S]*?```', ' xcodex ', 'g'),
        '`[^`\n]{1,300}`', ' xcodex ', 'g'),
        '"[^"\n]{1,300}"|“[^”\n]{1,300}”', ' xquotex ', 'g'),
        '(^|[\s(\[:,;])''[^''\n]{1,300}''', ' xquotex ', 'g'),
        '‘[^’\n]{1,300}’', ' xquotex ', 'g')
)
