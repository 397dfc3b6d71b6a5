"""The VPC: public and private subnets per AZ, NAT per AZ (prod) or one shared NAT."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass
class NetworkArgs:
    cluster_name: str
    zones: list[str]
    region: str
    cidr: str = "10.0.0.0/16"
    nat_per_zone: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Split the VPC into /20s: the first ``zones`` public, the next ``zones`` private.

    Private subnets hold the nodes and pod IPs (VPC CNI), so they get the same size as
    public ones here and the /16 leaves room for growth.
    """
    blocks = list(ipaddress.ip_network(cidr).subnets(new_prefix=20))
    if len(blocks) < 2 * zones:
        raise ValueError(f"{cidr} is too small for {zones} public and private /20 subnets")
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[zones : 2 * zones]]


class Network(pulumi.ComponentResource):
    """A VPC whose private subnets each route out through a NAT (own AZ's one when per-zone)."""

    vpc: aws.ec2.Vpc
    public_subnets: dict[str, aws.ec2.Subnet]
    private_subnets: dict[str, aws.ec2.Subnet]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        owned = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, len(args.zones))

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**args.tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags={**args.tags, "Name": f"{name}-igw"}, opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={**args.tags, "Name": f"{name}-public"},
            opts=child,
        )

        self.public_subnets = {}
        self.private_subnets = {}
        self.nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        for index, zone in enumerate(args.zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=public_cidrs[index],
                map_public_ip_on_launch=False,
                tags={
                    **args.tags,
                    **owned,
                    "Name": f"{name}-public-{zone}",
                    "kubernetes.io/role/elb": "1",
                },
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=public.id,
                route_table_id=public_rt.id,
                opts=child,
            )
            self.public_subnets[zone] = public
            if args.nat_per_zone or index == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{zone}",
                    domain="vpc",
                    tags={**args.tags, "Name": f"{name}-nat-{zone}"},
                    opts=child,
                )
                self.nat_gateways[zone] = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.id,
                    subnet_id=public.id,
                    tags={**args.tags, "Name": f"{name}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )

        private_route_tables: list[aws.ec2.RouteTable] = []
        for index, zone in enumerate(args.zones):
            # Per-zone NAT keeps a zone's egress alive when another AZ fails;
            # the single NAT of small environments lives in the first zone.
            nat = self.nat_gateways[zone if args.nat_per_zone else args.zones[0]]
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=private_cidrs[index],
                tags={
                    **args.tags,
                    **owned,
                    "Name": f"{name}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                },
                opts=child,
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}",
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags={**args.tags, "Name": f"{name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}",
                subnet_id=private.id,
                route_table_id=private_rt.id,
                opts=child,
            )
            self.private_subnets[zone] = private
            private_route_tables.append(private_rt)

        # S3 through a gateway endpoint: model downloads skip the NAT (cost, and one
        # fewer thing to lose in a zone outage).
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags={**args.tags, "Name": f"{name}-s3"},
            opts=child,
        )
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "private_subnet_ids": [s.id for s in self.private_subnets.values()],
                "public_subnet_ids": [s.id for s in self.public_subnets.values()],
            }
        )
