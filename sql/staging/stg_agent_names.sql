-- Name -> id, for records that name their author without an id (the SDK's comment shape). Where two agents have
-- carried the same name, the one observed last holds it.
with ranked as (
    select
        name,
        id,
        row_number() over (
            partition by name
            order by observed_at desc nulls last, drop_seq desc, created_at desc
        ) as _rank
    from agents
),

final as (
    select name, id as agent_id from ranked where _rank = 1
)

select * from final
