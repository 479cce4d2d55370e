"""FastAPI dependencies: the services, reached through app.state (set by the app factory)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from modules.generation.pipeline import GenerationPipeline
from modules.services import Services
from modules.tasks.queue_base import TaskQueue


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_pipeline(request: Request) -> GenerationPipeline:
    return request.app.state.services.pipeline


def get_queue(request: Request) -> TaskQueue:
    return request.app.state.services.queue


ServicesDep = Annotated[Services, Depends(get_services)]
PipelineDep = Annotated[GenerationPipeline, Depends(get_pipeline)]
QueueDep = Annotated[TaskQueue, Depends(get_queue)]
