"""An OPC UA server on asyncua (an independent stack) for the gateway's tests.

Press (ns=2): Speed (Double, counts up each --period), Temperature (Float), Count (UInt32, counts
up), Running (Boolean), Name (String), Setpoint (Double, writable), Level (Double, EURange 0-200,
writable, for percent deadbands); Bulk: --bulk variables Bulk.0 ... (for browse paging and many
monitored items). --user NAME:PASSWORD turns off anonymous sign-in. --secure CERT KEY offers
Basic256Sha256 and Aes128_Sha256_RsaOaep (Sign, SignAndEncrypt) with that certificate (and None
only with --also-none). --user-certificate CERT accepts only that user certificate (X509 identity).
--no-subscriptions answers CreateSubscription with BadServiceUnsupported, as a server without
subscriptions does.

usage: asyncua_server.py PORT [--period S] [--bulk N] [--user NAME:PASSWORD | --user-certificate CERT] [--secure CERT KEY [--also-none]]
"""
import argparse
import asyncio
import logging

from asyncua import Server, ua
from asyncua.server.user_managers import UserManager


class Passwords(UserManager):
    def __init__(self, name, password):
        self.name, self.password = name, password

    def get_user(self, iserver, username=None, password=None, certificate=None):
        from asyncua.crypto.permission_rules import User, UserRole
        if username == self.name and password == self.password:
            return User(role=UserRole.User)
        return None


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--period", type=float, default=0.5)
    parser.add_argument("--bulk", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--secure", nargs=2)
    parser.add_argument("--also-none", action="store_true")
    parser.add_argument("--user-certificate")
    parser.add_argument("--no-subscriptions", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    user_manager = Passwords(*args.user.split(":", 1)) if args.user else None
    if args.user_certificate:
        from asyncua.crypto.permission_rules import UserRole
        from asyncua.server.user_managers import CertificateUserManager
        user_manager = CertificateUserManager()
        await user_manager.add_role(args.user_certificate, UserRole.User, "operator")
    server = Server(user_manager=user_manager)
    await server.init()
    if args.no_subscriptions:
        from asyncua.common.utils import ServiceError

        async def refuse(*_args, **_kwargs):
            raise ServiceError(ua.StatusCodes.BadServiceUnsupported)
        server.iserver.subscription_service.create_subscription = refuse
    server.set_endpoint(f"opc.tcp://127.0.0.1:{args.port}/gemba/")
    if args.secure:
        await server.load_certificate(args.secure[0])
        await server.load_private_key(args.secure[1])
        policies = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign,
                    ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt, ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign]
        server.set_security_policy(policies + ([ua.SecurityPolicyType.NoSecurity] if args.also_none else []))
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    if args.user:
        server.set_identity_tokens([ua.UserNameIdentityToken])
    if args.user_certificate:
        server.set_identity_tokens([ua.X509IdentityToken])
    idx = await server.register_namespace("urn:gemba:test:press")
    press = await server.nodes.objects.add_object(ua.NodeId("Press", idx), ua.QualifiedName("Press", idx))
    speed = await press.add_variable(ua.NodeId("Press.Speed", idx), ua.QualifiedName("Speed", idx), 0.0)
    temperature = await press.add_variable(ua.NodeId("Press.Temperature", idx), ua.QualifiedName("Temperature", idx),
                                           ua.Variant(21.5, ua.VariantType.Float))
    count = await press.add_variable(ua.NodeId("Press.Count", idx), ua.QualifiedName("Count", idx), ua.Variant(0, ua.VariantType.UInt32))
    await press.add_variable(ua.NodeId("Press.Running", idx), ua.QualifiedName("Running", idx), True)
    await press.add_variable(ua.NodeId("Press.Name", idx), ua.QualifiedName("Name", idx), "Press 3")
    setpoint = await press.add_variable(ua.NodeId("Press.Setpoint", idx), ua.QualifiedName("Setpoint", idx), 50.0)
    await setpoint.set_writable()
    level = await press.add_variable(ua.NodeId("Press.Level", idx), ua.QualifiedName("Level", idx), 0.0)
    await level.set_writable()
    await level.add_property(idx, "EURange", ua.Range(0.0, 200.0))
    if args.bulk:
        bulk = await server.nodes.objects.add_folder(ua.NodeId("Bulk", idx), ua.QualifiedName("Bulk", idx))
        for i in range(args.bulk):
            await bulk.add_variable(ua.NodeId(f"Bulk.{i}", idx), ua.QualifiedName(f"B{i}", idx), float(i))
    async with server:
        tick = 0
        while True:
            await asyncio.sleep(args.period)
            tick += 1
            await speed.write_value(float(tick))
            await count.write_value(ua.Variant(tick, ua.VariantType.UInt32))
            await temperature.write_value(ua.Variant(temperature_at(tick), ua.VariantType.Float))


def temperature_at(tick):
    """Steps of 0.1 and 0.5 in turn (a wrap every 20 ticks): within a 0.35 deadband every other change is
    dropped, whether the server measures it from the last reported or (as asyncua does) the last sampled value."""
    return 21.5 + (tick // 2 % 10) * 0.6 + (tick % 2) * 0.1


if __name__ == "__main__":
    asyncio.run(main())
