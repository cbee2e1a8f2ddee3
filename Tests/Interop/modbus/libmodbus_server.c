/* A Modbus TCP server on Debian's libmodbus (libmodbus-dev), the second independent peer of
 * Gemba's Modbus client. Usage: libmodbus_server PORT. It holds 200 of each table: holding
 * register 0–1 = 123.456 as FLOAT32 ABCD, 10–11 as CDAB, 20–21 as BADC, 30–31 as DCBA, input
 * register i = 3 i + 1, coil i = (i % 4 == 1), discrete input i = (i % 5 == 0). Addresses past 199
 * answer exception 2, as libmodbus does.
 *
 * The floats are laid out from their IEEE 754 bits here, not with modbus_set_float_abcd() and its
 * siblings: in Debian 12's libmodbus 3.1.6 those name the orders wrongly on little-endian machines
 * (libmodbus issues #358 and #611, fixed in 3.1.7), e.g. _abcd() writes F642 79E9 for 123.456,
 * which is BADC. */
#include <errno.h>
#include <modbus/modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", atoi(argv[1]));
    modbus_mapping_t *map = modbus_mapping_new(200, 200, 200, 200);
    if (ctx == NULL || map == NULL) { fprintf(stderr, "libmodbus: %s\n", modbus_strerror(errno)); return 1; }
    float value = 123.456f;
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint16_t ab = (uint16_t)(bits >> 16), cd = (uint16_t)(bits & 0xFFFF);
    uint16_t ba = MODBUS_GET_HIGH_BYTE(ab) | (uint16_t)(MODBUS_GET_LOW_BYTE(ab) << 8);
    uint16_t dc = MODBUS_GET_HIGH_BYTE(cd) | (uint16_t)(MODBUS_GET_LOW_BYTE(cd) << 8);
    uint16_t layouts[4][2] = {{ab, cd}, {cd, ab}, {ba, dc}, {dc, ba}};  /* ABCD, CDAB, BADC, DCBA */
    for (int order = 0; order < 4; order++) {
        map->tab_registers[10 * order] = layouts[order][0];
        map->tab_registers[10 * order + 1] = layouts[order][1];
    }
    for (int i = 0; i < 200; i++) {
        map->tab_input_registers[i] = (uint16_t)(3 * i + 1);
        map->tab_bits[i] = (i % 4 == 1);
        map->tab_input_bits[i] = (i % 5 == 0);
    }
    int listener = modbus_tcp_listen(ctx, 1);
    if (listener < 0) { fprintf(stderr, "listen: %s\n", modbus_strerror(errno)); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (;;) {  /* one connection at a time, the next once it closes */
        if (modbus_tcp_accept(ctx, &listener) < 0) continue;
        uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
        for (;;) {
            int length = modbus_receive(ctx, query);
            if (length < 0) break;
            if (length > 0) modbus_reply(ctx, query, length, map);
        }
        modbus_close(ctx);
    }
}
