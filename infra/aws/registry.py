"""The ECR repository for the serving image (replicas and router run the same image)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

KEEP_IMAGES = 50


class ImageRepository(pulumi.ComponentResource):
    """Immutable tags (a tag always means the same bytes), scan on push, KMS encryption."""

    def __init__(
        self, name: str, tags: dict[str, str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ImageRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repo",
            name=name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            force_delete=False,
            tags=tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"keep the newest {KEEP_IMAGES} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": KEEP_IMAGES,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )
        self.url = self.repository.repository_url
        self.register_outputs({"repository_url": self.url})
