"""Workflow orchestration: the YAML DSL, its compiler to LangGraph, the node types and the engine.

A turn, end to end::

    async with open_checkpointer(url) as saver:                     # orchestrator.checkpoints
        compiler = WorkflowCompiler(checkpointer=saver)             # orchestrator.compiler
        spec = load_workflow(yaml_text, tools=tool_names, workflows=workflow_names)
        graph = compiler.get(tenant_id, spec, workflows=tenant_specs, tools=tool_names)
        context = NodeContext(llm=provider, search=search, call_tool=call_tool,
                              emit=on_event, tenant_id=tenant_id, model_tier=tier)
        result = await WorkflowEngine().run_turn(graph, conversation_id=cid, message=text,
                                                 context=context)
        # or: async for event in engine.stream_turn(...): ...  (last event: run.finished)
        if result.status == "waiting_for_agent":
            ...  # later, possibly in another process:
            await engine.resume(graph, conversation_id=cid, context=context,
                                resolution={"action": "answer", "message": "..."})
"""
