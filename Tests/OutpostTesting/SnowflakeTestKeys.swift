/// Test keys, generated for these tests only with OpenSSL 3.0 (`openssl genpkey -algorithm RSA -pkeyopt
/// rsa_keygen_bits:2048`, then `openssl pkcs8 -topk8 -v2 …` for the encrypted forms). They protect nothing. The fake
/// Snowflake catalog (`Tests/Fixtures/snowflake-catalog.json`) registers `plainPKCS8`'s public key for OUTPOST_SVC.
public enum SnowflakeTestKeys {
    public static let plainPKCS8 = """
        -----BEGIN PRIVATE KEY-----
        MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDVM4aPPZx8GkkJ
        1xWM/mNC5nM7RzfedofppY8DWA6q8k/zAk4YYjeeLTQMqAZCoqzSWdLSxoEJsVOp
        BNZ7mbrYLlqnsNcJFjaGRlEQY7SkyCUodq1wTKPH8jFtMlH7TNeG5bdAKYddUlUl
        lR157sxzmja32oqMEBIKmicYl6jx5XcW+xhy7b1g9kAJevh49+yS6lATgKLw7mRQ
        /53yw7T76DgVfXyhxTLxEfDigLmywSdkorPS4w+tNVvro6lyAPLXP2BE3dJB2UEj
        tcraD0EFZ5ooYDbWSMHIogwzgwr2Gqa3LmtZch5uSpJfy3+3+Enrsrb9rh/YQxRc
        pvKxxeQlAgMBAAECggEAFf/Xmi8+1vV1ZO0LPb3AK1aRPGQoaS2s75iUTcGH3e7b
        /hTWTyDPYWSDsuyhnL2hfKElJneyN/hSzCWCJkXiKE18MEKIpdjjbm6SDdFkAf7f
        CrJYSja2Tbr5i61+FSLEOJi6lIXUgHYu8A5XeM4BzcnzbHxCAJrl6a8napu3pKIb
        MrK5xe2oZeqhNzOuuWpHR/Ui8IJg871wwHzPocGvF48zC6dZEbQkB7FQRcYsFYHf
        EiuXXjL9XJZ1UOIfSORjiyPlW6PDhkAGfBX+bk0aY/PdycFLk4/38j48vMbV9U/e
        l3PMje9gbcQ32akXPpklCd97ebQPcRLFMIeXMTYzfwKBgQDuqpDsrJrOX3KIT1bl
        Pj9R8svefz2f372DZn/AIOX4cEMhnNvIV3ZyOD34ix+NGyow2t6kbRtuZ4B7mowu
        I0AnoztXEVbI7En68NQaymrQADZ9xSZ90ykW5No6ZLEadLsk/JxYwNul+xqbN1fN
        +JwzMaGqNAk5Tgp0uVHiGqoTqwKBgQDkr3+F0++MurkbusnPihrLaaXDYUu4ZF0+
        893NGpgbQGU4lbpXB85RbqLyt2cpKM5rOiYfzA19lxp3SrJJZOk+wcnByPCXWY0z
        wj4OKNWIgflNYypg6H2Mte4hYVtxHWvZ9WI91mPX75N3Dvopa+knQA52atU3z7KQ
        8EhWO8kXbwKBgQCvuC1T1BF2eJfe/GtCBX6hW132x0AcAaOKp2DPmGk5bY4/pTm8
        W4j9t6MI54WnYqTBq6PY8+wKcXILj1I+df26MVhzVnTLIg2mEMJZp0bVNhLorssU
        QPAzxvNVouUyUVeod8S1I+mUXzjLpweiwrRejOA2bHGOG4NfRUKgcnleWQKBgGWk
        n3CTL5EEWUw67IIjZx9sOLIrp6UwbsWRTM9h96N9LsBExIr0PD6zhxeMbvy7V2wP
        b2yInKJqq+fDupSmlok/Rvar4kvTENClkEFo4ugGpRFBd0+VZmBJaKtLg4I2Sn6Y
        8256wOv0Xz322TfZ78pzTTpS56wj08FaGzzA2/NfAoGBAOPj509myln++V0mrLFJ
        8fNv733MEyxMErPbNaOpqyRJhCQUTKohu+NCzNRpgeNFxs8fVJNhv3r16BR7LZwf
        Tgi64EoUAJS/QjZbzUUCEslvJEIiZNRgVtfc29FPZ2CTs1ALEhqmJiTZAEx5Amx8
        krSFO2HbkoWUZ7omegvwZA6A
        -----END PRIVATE KEY-----
        """

    public static let pkcs1 = """
        -----BEGIN RSA PRIVATE KEY-----
        MIIEpAIBAAKCAQEA1TOGjz2cfBpJCdcVjP5jQuZzO0c33naH6aWPA1gOqvJP8wJO
        GGI3ni00DKgGQqKs0lnS0saBCbFTqQTWe5m62C5ap7DXCRY2hkZREGO0pMglKHat
        cEyjx/IxbTJR+0zXhuW3QCmHXVJVJZUdee7Mc5o2t9qKjBASCponGJeo8eV3FvsY
        cu29YPZACXr4ePfskupQE4Ci8O5kUP+d8sO0++g4FX18ocUy8RHw4oC5ssEnZKKz
        0uMPrTVb66OpcgDy1z9gRN3SQdlBI7XK2g9BBWeaKGA21kjByKIMM4MK9hqmty5r
        WXIebkqSX8t/t/hJ67K2/a4f2EMUXKbyscXkJQIDAQABAoIBABX/15ovPtb1dWTt
        Cz29wCtWkTxkKGktrO+YlE3Bh93u2/4U1k8gz2Fkg7LsoZy9oXyhJSZ3sjf4Uswl
        giZF4ihNfDBCiKXY425ukg3RZAH+3wqyWEo2tk26+YutfhUixDiYupSF1IB2LvAO
        V3jOAc3J82x8QgCa5emvJ2qbt6SiGzKyucXtqGXqoTczrrlqR0f1IvCCYPO9cMB8
        z6HBrxePMwunWRG0JAexUEXGLBWB3xIrl14y/VyWdVDiH0jkY4sj5Vujw4ZABnwV
        /m5NGmPz3cnBS5OP9/I+PLzG1fVP3pdzzI3vYG3EN9mpFz6ZJQnfe3m0D3ESxTCH
        lzE2M38CgYEA7qqQ7Kyazl9yiE9W5T4/UfLL3n89n9+9g2Z/wCDl+HBDIZzbyFd2
        cjg9+IsfjRsqMNrepG0bbmeAe5qMLiNAJ6M7VxFWyOxJ+vDUGspq0AA2fcUmfdMp
        FuTaOmSxGnS7JPycWMDbpfsamzdXzficMzGhqjQJOU4KdLlR4hqqE6sCgYEA5K9/
        hdPvjLq5G7rJz4oay2mlw2FLuGRdPvPdzRqYG0BlOJW6VwfOUW6i8rdnKSjOazom
        H8wNfZcad0qySWTpPsHJwcjwl1mNM8I+DijViIH5TWMqYOh9jLXuIWFbcR1r2fVi
        PdZj1++Tdw76KWvpJ0AOdmrVN8+ykPBIVjvJF28CgYEAr7gtU9QRdniX3vxrQgV+
        oVtd9sdAHAGjiqdgz5hpOW2OP6U5vFuI/bejCOeFp2Kkwauj2PPsCnFyC49SPnX9
        ujFYc1Z0yyINphDCWadG1TYS6K7LFEDwM8bzVaLlMlFXqHfEtSPplF84y6cHosK0
        XozgNmxxjhuDX0VCoHJ5XlkCgYBlpJ9wky+RBFlMOuyCI2cfbDiyK6elMG7FkUzP
        YfejfS7ARMSK9Dw+s4cXjG78u1dsD29siJyiaqvnw7qUppaJP0b2q+JL0xDQpZBB
        aOLoBqURQXdPlWZgSWirS4OCNkp+mPNuesDr9F899tk32e/Kc006UuesI9PBWhs8
        wNvzXwKBgQDj4+dPZspZ/vldJqyxSfHzb+99zBMsTBKz2zWjqaskSYQkFEyqIbvj
        QszUaYHjRcbPH1STYb969egUey2cH04IuuBKFACUv0I2W81FAhLJbyRCImTUYFbX
        3NvRT2dgk7NQCxIapiYk2QBMeQJsfJK0hTth25KFlGe6JnoL8GQOgA==
        -----END RSA PRIVATE KEY-----
        """

    /// `-v2 aes-256-cbc -v2prf hmacWithSHA256`, passphrase `canary-passphrase-ü`.
    public static let encryptedAES256SHA256 = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI9ZGw6PfjWHkCAggA
        MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBAFLcscLrzHDj4SzxeH//j2BIIE
        0HHlF63SzcR5lbne/8gFEBUH5e29K5GoI7NQS2U5Um+mSxCnYpaN91VzATRORL/V
        6zFQmQsLhE0C4rInJFOiateckju81zGzIORPPBfNysb02x85g+meSAsFnezmaQxL
        gCvae5LfwI2QYKXcC86/xKnwhownvPs39QRXR0h1pRrf1+qbnbWzQee7og4rDdPg
        6CBeLQep/Y3KJvdr/mNnDrjIKMWf5e0uyyFRTO4pE9ss8wbVyWzpHYZbYMmqBK4i
        i/nWP56pML0YYmMp1WeLCHURocfb3ZCtnkKv6hOsTyDhXQ5h8XjwqyyNzrt/KzKt
        iPDTwrmoYOt16OFyMsvRt81APSi0jmZqHB2pFh/RJMwtxAQD5fGYno62uhWtzKFP
        ZbBcnykvp9BbIqLQiwwoPVNLBseXPV++/85ozfUbToPiJTsf1Mtn3TeZ6ErCNaOw
        /Y41VjpmoCiwbxcnRGmVaBbHq5YdXPmSkSi8YI0Z3vn+cXdDqDSGbK4G0wwt3mry
        DXH6UuatZmEnXuUxOYrmLXRM9QM2i49I0gI5gBoURmteAMGVb544OYalLQj18svt
        iYaUUQ035gxEDrw9yTQmpWBmBiLL+wSf9ORHMSbY+Q2vcUqJF/IMVTebH6seMRaZ
        HO6QxZcNcgfs8fMevrNKpl+bJsZ+ZEXfwUvzUctMhaYyA2IDab7ThOkaO9Lkhyk4
        kHIWMy0z8ZoyWtN9Wdzs9T9aAVJsQfsmPqaXwU3A+j1ug1TUlkWik53ADNcUB367
        jgFJN4b/svG9Rw31CFCoZtfD3O5zAlXmLKIzbOirPETqqQzhP+vPi65GXFjYPe/k
        /FwjMLZgBSTjjJ1Ynee2OCg3goNKNqRjf8emQOcoiaAm0UUpu71OjkxlJ0F7XReb
        u0gt621Uzz6UqjE3d6a3DKX/2eGdhqz8JMqzxujUOIUwuHE3GUOIUdLcC7W5MzkH
        UqXRqgD5xhY4FLNBWnpVGxFZjDDoHGadUOpclfFruCxJqOiEh0WvFccNQv3uL89h
        ASE/S2qOc7u9QhAHaSPOZZ5FurB87B+qw7NzVLzSEqTJxq1LEv2qShxTmfwDIHnu
        NIxt6Xd31hBEAGAnYxaelMy7CHPnaoQZGgj8K3QQIssb+20TYxtnwei++xh3vXI8
        E1c+ySR723YkQp9WVywYDMKMpSUV/0on8/GBfUTlTejsSRW+KBcbRIbp+Hn1LeqK
        VU08GLT2nCQW7K+44m5gERAjb5XZGPi2/TXDKWPPo7gIXhaf1ZacqAuyOKDbJ40x
        oYOmra09rowdGlU/7zdI0FXfUWTynSnuSFP8odu8M2E03yrEzbfbZCvU/teoXo6U
        RrC3JUOyCuZH3ubGFDiOvwqjnwUuel2KbBi6wqYTyeidlpF+7YKeNiRZ1G7+n4s5
        15wJQGR44hcDvs3YhgAqWoFiGjrtdzkfclPhLpHMjWZkw2usQzcLrjeJtahnPJ0k
        39wIWwnrc95hxEVNexYvMSUNi+syxP8L/GVe0L7RDrXinBLSszIqimVQb87sE91v
        RQDQl66Y+ShsaK9BZa9Zp0UfIDg/SiHKqDHAeNG8onbqXEKvUkgntM2DjMHorStN
        +Q4G0JzvVovBx7IWzV71i02FJGiRIgXgjy769ul8S7r6
        -----END ENCRYPTED PRIVATE KEY-----
        """

    /// `-v2 aes-128-cbc -v2prf hmacWithSHA1 -iter 1000` (the PRF is then omitted: the default), passphrase `secret`.
    public static let encryptedAES128SHA1 = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkqhkiG9w0BBQwwDgQI0/r46WsTF3UCAgPo
        MB0GCWCGSAFlAwQBAgQQMx/alYNxrWMyYBlWcwciEwSCBNDoG6rTIeE3YrjTqM38
        20Wz6uY7VsrtAp3Dk6GbhYxfgR03WGDzzfAEpCvZiUW9o9pNwtZg9kAJXIbAz8/2
        dyLbA0BpU++w4ZASHB5B0ItmvBL24yx6lk/WfGgaX1sK4H+ThYOS+aC/Fp6Gacmq
        GiFEZZxT2dT4kRxWYSCK9cBs38Y3iw4oc+ovNc1SqGRmYD8+qn+xERKSDmk8vdKa
        chiL9w0tOSH1virr5WweVzEvUQdKhcm0OE0hk6XN0uKHhdW2+6JNFOFjhEzqrrAP
        74SYXiStCzxun65IJMl5lucTodOBTwek8ZxPbDQNjlz5Vsvk3dc1grombw7jaPAV
        nfD8m96vTAYqzD3Ae7WggMHkZRnA3eLwwFS/nnTm3YeWD9T+wnAWeV0wTES2BF9g
        ypkumil9RSa5mNlqqVA3P+apNTO0sXH/ssNZzd36gtXUH3YUJLAFgPfUZRwpqim0
        vjSTj8mu1Cwf2KEHV8evO54O44smy+KWtEEGvj4A95Yr/PqwwWK0WOeyBbs5Nc9l
        3BjB3Ut/RKoyehkdVGrl4/+zgq1Q4bAe1A/hIrFtqrsE2a2LjYn6Jq4cDxfOhdg1
        Hp83jOlpNHvMVG9wNmeHpMgOsA32J2DMERvMDf0mrznJwYlT9zp/8uTlJ5uA+ct0
        /YYu9Oq2OpDKXLBh9NqXXF83MpOFWOSL71ke9NRyYLN2jGSynao22S4HCRCtoM20
        mXM/klVNjx/O4vgzq5uRPCTZnQx/iXPxgy/U945xhqVYEFL8P2X7WW6icZNBPb+l
        oUIKwgH48CF3LLglBWRN02Qe3PBeQor/jQXPIS2LEcvHB4yGqOVOTB6mtVwpnxSV
        Ki+fTlzy/7BHzEMOPlhXURyvPXOTXHHDcQ4khAbGRyr3yu3WgLZgPQxive86sQYm
        Wmv18Nl7OpVIgt7swsVRwsLi8SVJgBUTDyCKFFH+MIW78gFnb1lMh5mFBiIAqUoz
        jxsc4QiVAABw1PARsD7GKGiAY+EXWK0QI4oasZd8i6bB1qZ9Lbu+o+Vg7CtqVtnh
        3zHUq5IfY4OQL5am9CiGXV+P7+1UOELqMVUmqaaSATKagxDoXwGwaecc/VDxCdos
        DnuXv5y43SGglwy7M2JAPvrOXgDnbpQt3qP22bkgNsEjn9+CWl4l3kR50ZkcT2ub
        hfNLEsEPyPzGN9Pq5C/7mwmlQhLeg81WNwH2E3tFpt65zLYMoqpyiA9LjhpDQtUG
        ZeWjdNLXmWbIXcnOGGgome1wKckyQ0jnxGRLtxxmlxfRmMxbqLQC1+J4+kLdxnA+
        VtDKf3Q41ryIBoWuSdSVJFsGhKYByr6PPnn/XtQBbi7OpR8C9tc5YHwYP7TY6QSJ
        CY9ZMoLH68jQU6hND9MfWSSYYoD7x53fRVgRtxCzy2/eA+JqUXc3sxIf1w0zEjEx
        s/mz1IY3PvvvDRpGly4uELXnQpnxrbqMjtKvT2W0dgc4hO64tEhuMhVdIxw+0lON
        Yt7MVf4eYIPF2JV2FD0O+MXNZvqk09Yqt537TOZEztGD1BPiIVZWsGojmbGUHDL0
        /EEZOvukbVEIYFHyH5BJ7YdECPW0LSshMnk7A1pI8Y71Eotda9ak333s7s80RJs8
        2ZbAj/i3JPcZdlQWwfmKeT9l2A==
        -----END ENCRYPTED PRIVATE KEY-----
        """

    /// `-v2 des3`: PBES2 with a cipher Outpost refuses.
    public static let encryptedDES3 = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQIMujdJBvax9YCAggA
        MAwGCCqGSIb3DQIJBQAwFAYIKoZIhvcNAwcECHjU3L8VJv7OBIIEyAcsMhTxDI0g
        MFlxUFlwbpqLUsiYJ02jiww8XeLH4wQIv4YMkMDb0tvS44fhnO1Q3GruISqwNRbL
        +CKa25CZ206VqKEzCwnnuYPpakFgQj7paTBQONA+N/gFWvnBaLmQUq9QE49m9HKY
        LmBX+DWBMBfSd1id8WIcPy3km77BS5LJ+FPC40GRov/Y7XZkjqKeQ5mFbt9uGK0r
        rOIqpebAhwU0rMuJIHJCwZER4ghgq1UeJLNzdmRyWpybJVpyy4yTJleB+/m/3Y0E
        aabhys8RAdm4iLO895bmEYf69fKvvc+w2M2GcXeSNRHBgL8s2iFzKh/7P6roYqOe
        TKmZjvNKMzOkk20+/wQX2rAg/rOivaYEyu2sbCiIIXS29GpppNeWRM79ha+89Lkq
        9lOvu7MQJq34OURLIUtnowRYMVCbyokR7O5N3KJxUbeTWTVg19MO3VSkGwec49Nv
        nb5vKRc2JfB5dmZZCvMfUverH3uVUxn3+1dvIypAm5dOAlQBmVTltmDVjIDPVPUJ
        n2FxT2p0Ith3CjTer4Y7/bUz6lXk3Uw0cht3E7bPddQh/dcjWDPAL95EqoKch6Gn
        PA890VaDDctcPdZBYIAAex5OKgeprnNNHgortXRSTQjmZMfVSW6qOSqTwVlDWmQf
        ZWP39fkLHCpEq2Q5oOxCPPhXsLbMUwg8Qz2oRS2ubgac0B/flA0V/nYlcdkRi7Sg
        kWv+iaWkoo4mszBeSvypWkCcGLvfcYrVStXnnS05FnbqeIDF2AI7rvA20b7rmNv5
        uVUSJr/e6p2cVlCXOvj50dyKNdug/jgQIiqv4GWY66NDESc8PtK5Axn6p44D5K1h
        5lJNQWsAmD7Oeo+m00umGUeM3XEagnAGmING8RJlJ/PtYMHThhlms95kNAuHh9vl
        qk1s03Ln0YKTXhbyBT8rQfLATOSa1UmJIghffY/WSvdUc3rd8I4Z5ZBl1CJaXpbC
        QSKsmsQthzuaIs3zQrt6diuILlAc8uJ8bHklkY+GZ3/FZgRKAYPulcfK3QEK4ia0
        qwMy+2uKLIFWfWR7yN5cvALNPA4pmHXthF9M03+pvQSI/oj50l2iAFzw0p4Vlprk
        pQd7CWUpU8OnMRsQDjSKmpqklSs+A+67tLv1QtWX9SYZsKGWo82dB0IGCTfaFgOU
        l3oOrNx8wCDNVXHTcrPCepz8VIRB3Pn1gtyMlpsfYE3Ut2cN0ywABKpPSJfKqJK/
        oFVVamujLACddXQGdLyKoyE0zHqZJSJD3xxqvChTVN5kFRR3JuXbWaXwOQFLbbnf
        YjFuNWFo5rsorcdz/RZcqa7OmFworwOW09TbirO5cfV3ntKMzuCZt6recHLBDN5N
        VQO0EKUuFEA5ZM7cGdA8Q8cJ3Jzj1uoOyAKwFrpe/LmeboWbV5Hjz5OLx2k3l28Y
        pBT6NIArbKuk6JajVkbLFfM1V2vz1anpX68nqCScNCMWMmJsugglnx0D/LJdf2c2
        1tLDwlUdMRYH5A8yuiGS072s0Kumjb2x2L9x3ZH1FEKdhsLp7jXVwqMFSUF/JfDU
        iLNBCxemLqk4vi2sCX+asbTLry3Spp+zg3oZldgjtgC+g0UJO3LXdopcZfuAXvuR
        KTj/PKDZxgQzCw2owdvykg==
        -----END ENCRYPTED PRIVATE KEY-----
        """

    /// A key no user of the fake's catalog has registered.
    public static let otherKey = """
        -----BEGIN PRIVATE KEY-----
        MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCcxuXeGXpPOVyy
        9rVZniW+FrhcyYgr+0JR7HcSx8c6RVOr3RK4SUnLMT0S6JFYBCcfp/nMKfIrYjG7
        R+DqxMb6Q3H53hLb5QtcAEZY+uyfJ7yW/FvQ8BZvQJNu0BHiF5FxH99Sr9lY+jyS
        zHwdrB53crvxgIbgZA7i6KvTX1iQI2JWqJe52kCL3roWA558DEsJosM6dzv3WNRc
        qvCgHPfSfUclp3sKQpU/oBH4rVbd0not1nArYn/g3A14x4F5bFYDjQhFxdBhXHk9
        o6T3nbwFNxIiM8faBJighTSjI1da3QfgHlge6pvdsq9WocDfEp1ypjMyyae3UE9+
        A+fyEL97AgMBAAECggEACjP9mMntW64+2gd+qkbwa4xx/NlBgKSZCS42WlALJ2qE
        oAOYE3Xy6gOZ1xsF/oWYADzqiml+cRQHwDRU2c1AVTWXe4IC6zG0XrfxMXBJ1Fp9
        27uvxAt5V6M1v86lzfeSXRuMaVwNbUzX2Aab20Ms4Rbj+WXPzAG8YEhxNPqYZRpL
        j3AyD31Rnz/iFbOl/fARucUzK+4TC2M8y3FBX62Exz/5kp1GJNJNLZdm6hHELTBX
        16/rHqPPS9FkbhU3lwSJeucL5ix+442hrjFaBGUw/xZdgD7nc7cmToNk+zgBzlpW
        yLyRpNn7TTvsPM6vRmoVPxPXZZUvhb090prBtizYHQKBgQDcsVeTUO7GzBcSsWjU
        rnUpBdyqKMnFsgvEyN7oSk/gjuT2QRHrcZDnBTd4RYwz0Pucebzsg+AHeR7PBsJq
        X1Xlxsbv4bPoPp2KEBuf1Cc+dLDJ05vb6gnx9HqGOAf6YId7O9k+NgRXIb0vlKYU
        tvxhlcQoPS85Dx2Gvvi0cISWVQKBgQC129SNtP5qYS+zTVUct5GmsOYuxNX3v536
        dYiKNG+UpFqTLkyhOhgWK88EG92MY88ICV0t/Z/I02pwn+COmY4KZS0p1XTEjN82
        LGEGFYPzo6tpAwhW25sYnMEYhNYtaNglpqO7TSCPTreUOJwGH01iMlkGs9M+9GtZ
        r7vN54eujwKBgQC1b1rXMwdLCojBhnbvuwl5E2epwOS5EjpYquePQ2DN9cxIo5BO
        50vAkepbh5nPE7V3nCH0tCpfGnV4sE7vUrd0s2nj1sOoYKn10m5ThQBKeXbKRpzx
        PES21U5RwAjXD7ryVm6wlYoV9Bfr4SJ1D0cIFy9wAXUsTL/yglhHR+XJDQKBgQCK
        FxbbU6gsVwfFet86IxnyHTlsIgLnURVAbab0asSfdf1g7TM66cYIb9OOJyqfw9od
        HB8pIQEHmaGlS4FURr1Yn2Mf9PnplZ6YoDI8UHIVux4ZazgV3EN0+PKXD6cibA5U
        6KhDPVmP+BHl9uZir7ou6lQ3hqzNjQNG4u4Ud87LeQKBgQDSbu8oO6W2daBTVgZL
        urV662rBZxoEXUKuscLjBGrcDOw6ecJZg1vCf6ADhpskObkK//lhp4d+AdpceZhQ
        wHka1BmQDJLU6f9yOhNcg71Bxkq3JSlQ+KZGK5ZPLyqelEtHrnIbpGxYJyqHXvGr
        5i1J1y3xh80tDXVk7qIZc/TOTA==
        -----END PRIVATE KEY-----
        """

    public static let passphrase = "canary-passphrase-ü"

    /// `openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | base64`.
    public static let fingerprint = "SHA256:fgAiI6/9a4bj1S1bUSIy/Nf5iDKfYPJcPF9BJgoE4eI="
}
