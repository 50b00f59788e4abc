// The kernel writes netlink headers and "host order" attributes in the machine's byte order.
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
