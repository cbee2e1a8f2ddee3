"""An OPC UA server on open62541 through its Python package o6 (a second, independent stack).

Press (ns=1): Speed (Double, counts up each --period), Count (UInt32, counts up), Name (String),
Setpoint (Double, writable), Level (an AnalogItem, Double, EURange 0-200, writable: for percent
deadbands).

--secure CERT KEY adds open62541's secured endpoints with that certificate; --trust CLIENT_CERT
trusts only that client certificate (without it, every client certificate is accepted).

usage: o6_server.py PORT [--period S] [--secure CERT KEY [--trust CLIENT_CERT]]
"""
import argparse
import sys
import time

import numpy as np
import o6
from o6.ns import ns0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--period", type=float, default=0.5)
    parser.add_argument("--secure", nargs=2)
    parser.add_argument("--trust")
    args = parser.parse_args()
    if args.secure:
        server = o6.Server(port=args.port, certificate=args.secure[0], privateKey=args.secure[1], applicationUri="urn:gemba:test:o6",
                           trustList=[args.trust] if args.trust else None, acceptAllCertificates=not args.trust)
    else:
        server = o6.Server(port=args.port)
    with server:
        press = server.addObject("Press", server.objectsNode, nodeId=o6.NodeId("ns=1;s=Press"))
        speed = server.addVariable("Speed", press, 0.0, nodeId=o6.NodeId("ns=1;s=Press.Speed"), writable=False)
        count = server.addVariable("Count", press, np.uint32(0), nodeId=o6.NodeId("ns=1;s=Press.Count"), writable=False)
        server.addVariable("Name", press, "Press 7", nodeId=o6.NodeId("ns=1;s=Press.Name"), writable=False)
        server.addVariable("Setpoint", press, 50.0, nodeId=o6.NodeId("ns=1;s=Press.Setpoint"))
        level = server.addVariable("Level", press, 0.0, nodeId=o6.NodeId("ns=1;s=Press.Level"),
                                   typeDefinition=o6.NodeId(ns0.vartypes.AnalogItemType))
        server.write(level.EURange, ns0.datatypes.Range(low=0.0, high=200.0))
        print("ready", flush=True)
        tick = 0
        while True:
            time.sleep(args.period)
            tick += 1
            server.write(speed, float(tick))
            server.write(count, np.uint32(tick))


if __name__ == "__main__":
    sys.exit(main())
